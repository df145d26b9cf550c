"""`python -m sandbox serve --port P [knobs] [--info FILE]`: run a sandbox tenant until interrupted.

`python -m sandbox onramp-connect --info FILE`: print the arguments that point `onramp connect` at that sandbox
(`onramp connect --slug demo $(python -m sandbox onramp-connect --info FILE)`)."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
from pathlib import Path

from .onramp import connect_arguments
from .server import start_sandbox, tenant_room_counts


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve a sandbox Microsoft 365 tenant over HTTPS on loopback")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--rooms", type=int, default=20)
    serve.add_argument(
        "--tenants", type=int, default=1, help="Microsoft tenants served (contoso-0001.onmicrosoft.com, … when > 1)"
    )
    serve.add_argument(
        "--tenant-rooms",
        type=tenant_room_counts,
        default=(),
        metavar="N,N,…|MIN-MAX",
        help="rooms per tenant: a list used in turn, or MIN-MAX spread geometrically over the tenants (else --rooms)",
    )
    serve.add_argument("--equipment", type=int, default=3)
    serve.add_argument("--users", type=int, default=5)
    serve.add_argument("--latency-ms", type=float, default=0.0)
    serve.add_argument("--budget-rps", type=float, default=0.0, help="per-app token bucket rate; 0 = unlimited")
    serve.add_argument("--throttle-fraction", type=float, default=0.0)
    serve.add_argument("--error-fraction", type=float, default=0.0)
    serve.add_argument("--provisioning-delay-s", type=float, default=0.0)
    serve.add_argument("--replication-lag-s", type=float, default=0.0)
    serve.add_argument("--customization-delay-s", type=float, default=0.0)
    serve.add_argument("--rbac-delay-s", type=float, default=0.0)
    serve.add_argument("--places-delay-s", type=float, default=0.0)
    serve.add_argument("--free-licenses", type=int, default=5)
    serve.add_argument("--dehydrated", action="store_true")
    serve.add_argument("--tenant-wide-calendar-grant", action="store_true")
    serve.add_argument("--info", type=Path, help="write the info JSON to this file")
    serve.add_argument("--verbose", action="store_true", help="log every request to stderr")
    onramp = sub.add_parser(
        "onramp-connect",
        help="print `onramp connect`'s arguments for a running sandbox (its secrets go to files beside FILE)",
    )
    onramp.add_argument("--info", type=Path, required=True, help="the info file `serve --info` wrote")
    return parser


def _onramp_connect(info_path: Path) -> int:
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError) as error:
        print(f"Cannot read the sandbox info file {info_path}: {error}", file=sys.stderr)
        return 2
    print(shlex.join(connect_arguments(info, info_path.resolve())))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    if args.pop("command") == "onramp-connect":
        return _onramp_connect(args["info"])
    info_path: Path | None = args.pop("info")
    spec = args.pop("tenant_rooms")
    sandbox = start_sandbox(**args, tenant_rooms=spec.counts(args["tenants"]) if spec else ())
    text = json.dumps(sandbox.info, indent=2)
    if info_path:
        # Written aside and renamed into place: whoever waits for the file (make run, a test) never reads half of it.
        partial = info_path.with_name(info_path.name + ".partial")
        partial.write_text(text + "\n")
        partial.replace(info_path)
    print(text, flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
