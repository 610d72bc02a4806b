"""``manage.py reproduce_proposal ID``: recompute a proposal from its record; "equal" or the first difference."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from portfolio_app.proposal_record import proposal_reproduce


class Command(BaseCommand):
    help = ("Recompute a rebalance proposal from its stored strategy, parameters, estimators and estimation window, "
            "and report whether the weights and the risk report are equal or where they first differ.")

    def add_arguments(self, parser):
        parser.add_argument("proposal_id", type=int)

    def handle(self, *args, proposal_id: int, **options):
        from portfolio_app.models import RebalanceProposal

        if not RebalanceProposal.objects.filter(pk=proposal_id).exists():
            raise CommandError(f"no proposal #{proposal_id}")
        result = proposal_reproduce(proposal_id=proposal_id)
        if not result.equal:
            raise CommandError(f"proposal #{proposal_id} differs: {result.difference}")
        self.stdout.write(f"proposal #{proposal_id}: equal")
