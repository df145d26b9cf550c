"""Django's makemessages, with what Onramp never shows a person left out of the catalogue: the virtualenv, the
sandbox (a stand-in for Microsoft), the tests, the benchmarks, runtime files and static assets (no JavaScript string
is translated). The README's "Languages" and tests/i18n run exactly this."""

from django.core.management.commands import makemessages

IGNORED = [".venv/*", "sandbox/*", "tests/*", "bench/*", "var/*", "static/*", "*.egg-info/*", "locale/*"]


class Command(makemessages.Command):
    def handle(self, *args, **options):
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), *IGNORED]
        # Source locations would change the catalogue at every edited line; the msgids say where they come from.
        options["add_location"] = "never"
        options["no_obsolete"] = True
        return super().handle(*args, **options)
