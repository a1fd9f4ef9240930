"""Edna's AWS stack, one per environment (`pulumi up --stack dev|prod`).

Components named `edna:web:*` are the web/API side, `edna:batch:*` the batch side: each side's
pipeline updates only its own with `pulumi up --target` (see the README, "Deploying to AWS").
"""

import pulumi

from infra import config as stack_config
from infra.api import Api
from infra.batch import Batch
from infra.data import Data
from infra.edge import Edge
from infra.identity import Identity
from infra.network import Network
from infra.observability import Observability
from infra.search import Search

config = stack_config.load()

data = Data(config)
identity = Identity(config)
api = Api(config)
search = Search(config, master_role=api.role, readers=[api.indexer_role, api.thumbnailer_role])
edge = Edge(config, api_endpoint=api.endpoint)
client = identity.add_site_client(edge.url)
api.serve(identity, data, search)
search.install_templates(api.function, api.alias)
edge.publish(identity)
data.allow_browser_uploads(edge.url)
observability = Observability(config, api, data)
network = Network(config)
batch = Batch(config, data, network)

pulumi.export("site_url", edge.url)
pulumi.export("api_url", api.endpoint)
pulumi.export("user_pool_id", identity.pool.id)
pulumi.export("client_id", client.id)
pulumi.export("data_bucket", data.bucket.id)
pulumi.export("mwaa_environment", batch.environment.name)
