"""The batch side's network: MWAA runs in two private subnets that reach AWS through NAT."""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_aws as aws

from infra.config import StackConfig


class Network(pulumi.ComponentResource):
    def __init__(self, config: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("edna:batch:Network", "network", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        zones = aws.get_availability_zones_output(state="available").names
        # Four /20s of the VPC: two public (NAT), two private (MWAA needs exactly two, in two zones).
        blocks = [str(b) for b in ipaddress.ip_network(config.vpc_cidr).subnets(new_prefix=20)][:4]
        self.vpc = aws.ec2.Vpc(
            "vpc", cidr_block=config.vpc_cidr, enable_dns_hostnames=True, enable_dns_support=True, opts=child
        )
        gateway = aws.ec2.InternetGateway("igw", vpc_id=self.vpc.id, opts=child)
        public_routes = aws.ec2.RouteTable(
            "public", vpc_id=self.vpc.id, routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}], opts=child
        )
        self.public_subnets, self.private_subnets, nats = [], [], []
        for i in range(2):
            zone = zones.apply(lambda names, i=i: names[i])
            public = aws.ec2.Subnet(
                f"public-{i}", vpc_id=self.vpc.id, cidr_block=blocks[i], availability_zone=zone, opts=child
            )
            aws.ec2.RouteTableAssociation(
                f"public-{i}", subnet_id=public.id, route_table_id=public_routes.id, opts=child
            )
            self.public_subnets.append(public)
            if i < config.nat_gateways:
                address = aws.ec2.Eip(f"nat-{i}", domain="vpc", opts=child)
                nats.append(aws.ec2.NatGateway(f"nat-{i}", subnet_id=public.id, allocation_id=address.id, opts=child))
        for i in range(2):
            zone = zones.apply(lambda names, i=i: names[i])
            private = aws.ec2.Subnet(
                f"private-{i}", vpc_id=self.vpc.id, cidr_block=blocks[2 + i], availability_zone=zone, opts=child
            )
            nat = nats[i % len(nats)]
            routes = aws.ec2.RouteTable(
                f"private-{i}",
                vpc_id=self.vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"private-{i}", subnet_id=private.id, route_table_id=routes.id, opts=child)
            self.private_subnets.append(private)
        # MWAA's own parts talk to each other inside this group; nothing enters from outside it.
        self.security_group = aws.ec2.SecurityGroup(
            "mwaa",
            vpc_id=self.vpc.id,
            description="Amazon MWAA: traffic within the environment only",
            ingress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "self": True}],
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
            opts=child,
        )
        self.register_outputs({"vpc": self.vpc.id})
