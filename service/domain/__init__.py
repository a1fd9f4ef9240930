"""Pure logic of Edna: tenancy, roles, storage layout, datasets and items. No Flask, no boto3."""
