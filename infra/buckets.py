"""A private S3 bucket with the settings every Edna bucket shares, as pulumi-aws v7 declares them."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.documents import deny_insecure_transport, document


class PrivateBucket:
    """Versioned, encrypted, owner-enforced, public access blocked; its policy denies plain HTTP."""

    def __init__(self, name: str, parent: pulumi.Resource, bucket_prefix: str | None = None, force_destroy=False):
        opts = pulumi.ResourceOptions(parent=parent)
        self.name = name
        self.parent = parent
        self.bucket = aws.s3.Bucket(name, bucket_prefix=bucket_prefix, force_destroy=force_destroy, opts=opts)
        after = pulumi.ResourceOptions(parent=parent, depends_on=[self.bucket])
        self.public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=after,
        )
        self.ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=after,
        )
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[
                {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}, "bucket_key_enabled": True}
            ],
            opts=after,
        )
        self.versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=after,
        )
        self.policy: aws.s3.BucketPolicy | None = None

    @property
    def arn(self) -> pulumi.Output[str]:
        return self.bucket.arn

    @property
    def id(self) -> pulumi.Output[str]:
        return self.bucket.id

    def seal(self, *statements: dict) -> aws.s3.BucketPolicy:
        """The bucket policy: TLS only, plus the given statements. Called once, when their ARNs exist."""
        if self.policy is not None:
            raise RuntimeError(f"bucket {self.name} already has its policy: a bucket has one")
        self.policy = aws.s3.BucketPolicy(
            f"{self.name}-policy",
            bucket=self.bucket.id,
            policy=document(deny_insecure_transport(self.bucket.arn), *statements),
            # The public access block first, or S3 may judge a policy before it is in force.
            opts=pulumi.ResourceOptions(parent=self.parent, depends_on=[self.public_access]),
        )
        return self.policy
