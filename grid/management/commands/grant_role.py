from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from grid import services
from grid.access import same_street_q
from grid.models import GridNode, Organisation, Post, Role


class Command(BaseCommand):
    help = "Create the user if needed and give them a role at a node (for operators and scripts)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("node_code")
        parser.add_argument("role", choices=Role.values)
        parser.add_argument("--post", choices=[Post.A, Post.B], default="")
        parser.add_argument("--password", help="set (or reset) the user's password")
        parser.add_argument("--name", default="", help="the person's full name, for a new user")
        parser.add_argument("--public-phone", default="")
        parser.add_argument("--organisation", help="the property company's name (property_staff)")

    def handle(self, *args, username, node_code, role, post, password, name, public_phone, organisation, **options):
        node = GridNode.objects.filter(code=node_code).first()
        if node is None:
            raise CommandError(f"No node with code {node_code!r}.")
        org = None
        if organisation:
            org = Organisation.objects.filter(same_street_q(node, "street"), name=organisation).first()
            if org is None:
                raise CommandError(f"No organisation named {organisation!r} in this street.")
        try:
            with transaction.atomic():
                user = services.user_ensure(username=username, name=name, password=password)
                ra = services.role_assign(
                    user=user, node=node, role=role, post=post, organisation=org, public_phone=public_phone
                )
                services.user_grant_admin(user=user, role=role)
        except ValidationError as e:
            raise CommandError("; ".join(e.messages))
        self.stdout.write(self.style.SUCCESS(f"{username}: {ra}"))
