from django.core.management.base import BaseCommand

from simulator.server import add_arguments, run_from_options


class Command(BaseCommand):
    help = (
        "Runs the provider simulator (OpenAI, Anthropic and Gemini wire formats, with latency, pacing and "
        "injected faults) until killed."
    )

    def add_arguments(self, parser):
        add_arguments(parser)

    def handle(self, *args, **options):
        run_from_options(options)
