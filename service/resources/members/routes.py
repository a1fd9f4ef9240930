"""Members of the caller's tenant: list, invite, change role, remove (admins only)."""

from dataclasses import asdict

from flask.views import MethodView
from flask_smorest import abort

from service.adapters.identity import Member, MemberDirectory
from service.domain import cursor
from service.resources.common import ApiBlueprint, PageArgs, caller, edna, page, page_schema
from service.resources.members.schemas import InvitedSchema, InviteSchema, MemberSchema, RoleChangeSchema
from service.vocabulary import names
from service.vocabulary.roles import Role

blp = ApiBlueprint("members", __name__, url_prefix="/api/members", description="Tenant members")


def directory() -> MemberDirectory:
    members = edna().adapters.members
    if members is None:
        abort(404, message="member management is not available with this identity provider")
    return members


def view(member: Member) -> dict:
    data = asdict(member)
    data.pop("tenant")
    return data


@blp.route("")
class Members(MethodView):
    @blp.requires(Role.admin)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(MemberSchema, "MemberPage"))
    def get(self, args):
        """List the members of your tenant"""
        limit = args["limit"]
        members = directory().list(caller().tenant, limit + 1, cursor.decode(args["cursor"]))
        more = len(members) > limit
        members = members[:limit]
        return page([view(m) for m in members], members[-1].username if more else None)

    @blp.requires(Role.admin)
    @blp.arguments(InviteSchema)
    @blp.response(201, InvitedSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body):
        """Invite a member into your tenant with a role"""
        username = names.username(body["username"])
        members = directory()
        member, password = members.invite(caller().tenant, username, body.get("email", ""), body["role"])
        return {**view(member), "password": password, "sign_in_name": members.sign_in_name(member)}


@blp.route("/<username>")
class MemberByName(MethodView):
    @blp.requires(Role.admin)
    @blp.arguments(RoleChangeSchema)
    @blp.response(200, MemberSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def patch(self, body, username):
        """Change a member's role (the last admin stays an admin)"""
        return view(directory().set_role(caller().tenant, username, body["role"]))

    @blp.requires(Role.admin)
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, username):
        """Remove a member from your tenant (never the last admin)"""
        directory().remove(caller().tenant, username)
