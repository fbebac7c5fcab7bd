from django.core.management.base import BaseCommand, CommandError

from routing.pricesync.formats import PARSERS
from routing.pricesync.sync import run_configured, run_source


def _fmt(fields: dict) -> str:
    return ", ".join(f"{name} {old} -> {new}" for name, (old, new) in fields.items())


class Command(BaseCommand):
    help = (
        "Syncs model prices and limits from the configured price lists (AIPOWER_PRICE_SOURCES), or from one "
        "given with --format and --url. Prints, per model, what changed, what was held for review and why."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=sorted(PARSERS), help="the price list's format")
        parser.add_argument("--url", help="where to read it")
        parser.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")

    def handle(self, *args, format=None, url=None, dry_run=False, **options):
        if bool(format) != bool(url):
            raise CommandError("--format and --url go together")
        if format:
            runs = [run_source(fmt=format, url=url, dry_run=dry_run, trigger="command")]
        elif dry_run:
            raise CommandError("--dry-run needs --format and --url")
        else:
            runs = run_configured(trigger="command")
        failed = False
        for run in runs:
            self.stdout.write(f"{run.format} {run.url}{' (dry run: nothing saved)' if run.dry_run else ''}")
            if not run.ok:
                failed = True
                self.stdout.write(f"  FAILED, nothing changed: {run.error}")
                continue
            for line in run.report:
                if line["status"] in ("not listed", "unchanged"):
                    continue
                text = f"  {line['model']} [{line['source_id']}]: {line['status']}"
                if line.get("applied"):
                    text += f"; applied: {_fmt(line['applied'])}"
                if line.get("held"):
                    text += f"; held: {_fmt(line['held'])}"
                if line.get("reasons"):
                    text += f" (why: {'; '.join(line['reasons'])})"
                self.stdout.write(text)
            unchanged = sum(1 for line in run.report if line["status"] == "unchanged")
            self.stdout.write(
                f"  {run.entries} entries; {run.applied} models changed, {run.held} held for review, "
                f"{run.proposed} new models proposed, {unchanged} unchanged (run {run.pk})"
            )
        if failed:
            raise CommandError("a price source could not be used; see above")
