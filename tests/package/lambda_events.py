"""What reaches the Lambda functions, made for the package tests: API Gateway events, SQS records of
S3 notifications, and the Cognito user pool whose ID tokens the API accepts (all on moto)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from urllib.parse import unquote_plus

import boto3

HOST = "abc123.execute-api.us-east-1.amazonaws.com"
PASSWORD = "Corr3ct-Horse-Battery!"


def http_api(method: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
    """An HTTP API event, payload format 2.0, from its `$default` stage."""
    headers = {"host": HOST, "user-agent": "pytest", "x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if body is not None:
        headers["content-type"] = "application/json"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": HOST,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
            "requestId": uuid.uuid4().hex,
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def rest_api(method: str, path: str, token: str | None = None) -> dict:
    """A REST API event, payload format 1.0, from a stage named `production`."""
    headers = {"Host": HOST, "User-Agent": "pytest", "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "httpMethod": method,
            "path": f"/production{path}",
            "stage": "production",
            "requestId": uuid.uuid4().hex,
            "identity": {"sourceIp": "203.0.113.7"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


def body_of(response: dict):
    """The JSON body of a function's answer to an API Gateway event."""
    text = response.get("body") or ""
    if response.get("isBase64Encoded"):
        text = base64.b64decode(text).decode()
    return json.loads(text) if text else None


class UserPool:
    """A moto user pool with an app client, the role groups, and users given with their tenant and groups."""

    def __init__(self, endpoint: str, users: dict[str, tuple[str, tuple[str, ...]]]):
        self.endpoint = endpoint
        self.idp = boto3.client("cognito-idp", endpoint_url=endpoint)
        tenant = {"Name": "tenant", "AttributeDataType": "String", "Mutable": False}
        pool = self.idp.create_user_pool(PoolName=f"edna-{uuid.uuid4().hex[:8]}", Schema=[tenant])
        self.pool_id = pool["UserPool"]["Id"]
        flows = ["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
        client = self.idp.create_user_pool_client(UserPoolId=self.pool_id, ClientName="web", ExplicitAuthFlows=flows)
        self.client_id = client["UserPoolClient"]["ClientId"]
        for group in ("admin", "editor", "labeler", "viewer"):
            self.idp.create_group(GroupName=group, UserPoolId=self.pool_id)
        for username, (tenant_name, groups) in users.items():
            attributes = [{"Name": "custom:tenant", "Value": tenant_name}]
            self.idp.admin_create_user(
                UserPoolId=self.pool_id, Username=username, UserAttributes=attributes, MessageAction="SUPPRESS"
            )
            self.idp.admin_set_user_password(
                UserPoolId=self.pool_id, Username=username, Password=PASSWORD, Permanent=True
            )
            for group in groups:
                self.idp.admin_add_user_to_group(UserPoolId=self.pool_id, Username=username, GroupName=group)

    def id_token(self, username: str) -> str:
        return self.idp.admin_initiate_auth(
            UserPoolId=self.pool_id,
            ClientId=self.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
        )["AuthenticationResult"]["IdToken"]

    def env(self) -> dict[str, str]:
        """The `EDNA_*` variables that point the service at this pool (moto names the real issuer)."""
        return {
            "EDNA_IDENTITY": "cognito",
            "EDNA_COGNITO_ISSUER": f"https://cognito-idp.us-east-1.amazonaws.com/{self.pool_id}",
            "EDNA_COGNITO_JWKS_URL": f"{self.endpoint}/{self.pool_id}/.well-known/jwks.json",
            "EDNA_COGNITO_CLIENT_ID": self.client_id,
            # the verifier looks each token's member up in the pool: boto3's endpoint override points it at moto
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": self.endpoint,
        }


class EventQueue:
    """An SQS queue that receives a bucket's ObjectCreated notifications, drained by hand into the
    records of the Lambda event the SQS trigger would deliver."""

    def __init__(self, endpoint: str, bucket: str, prefix: str):
        self.sqs = boto3.client("sqs", endpoint_url=endpoint)
        self.url = self.sqs.create_queue(QueueName=f"edna-events-{uuid.uuid4().hex[:12]}")["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])
        self.arn = attributes["Attributes"]["QueueArn"]
        rules = {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}
        queues = [{"QueueArn": self.arn, "Events": ["s3:ObjectCreated:*"], "Filter": rules}]
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": queues}
        )
        self.drain()  # the s3:TestEvent

    def drain(self) -> list[dict]:
        """The messages now in the queue as SQS records, deleted from the queue."""
        records = []
        while messages := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                records.append(
                    {
                        "messageId": message["MessageId"],
                        "receiptHandle": message["ReceiptHandle"],
                        "body": message["Body"],
                        "eventSource": "aws:sqs",
                        "eventSourceARN": self.arn,
                        "awsRegion": "us-east-1",
                    }
                )
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return records

    def close(self) -> None:
        self.sqs.delete_queue(QueueUrl=self.url)


def object_keys(records: list[dict]) -> set[str]:
    """The keys the S3 notifications in SQS records name, decoded (S3 URL-encodes them)."""
    return {
        unquote_plus(s3_record["s3"]["object"]["key"])
        for record in records
        for s3_record in json.loads(record["body"]).get("Records", [])
    }
