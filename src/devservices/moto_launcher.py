"""Starts moto's server with the patches of moto_patches.py applied first.

    python moto_launcher.py --port PORT [--host 127.0.0.1] [--without NAME,...|all]
                            [--block-token-seconds S] [--corrupt-block-reads N]

--without leaves patches out, so a test can show moto's own behaviour next to the
patched one (all: moto as released). Run by src/devservices/moto.ts with the
interpreter of the private virtualenv (scripts/install-moto.sh).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import moto_patches  # noqa: E402  (needs the path above)
from moto import server  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--without", default="", help="comma-separated patch names, or all")
    # AWS does not publish a block token's lifetime; an hour outlives any test.
    parser.add_argument("--block-token-seconds", type=float, default=3600.0)
    # A fault for the tests, not a patch: the first N blocks read arrive with a flipped byte.
    parser.add_argument("--corrupt-block-reads", type=int, default=0)
    args = parser.parse_args()

    without = {name for name in args.without.split(",") if name}
    unknown = without - set(moto_patches.PATCHES) - {"all"}
    if unknown:
        parser.error(f"unknown patch(es) {sorted(unknown)}; the patches are {sorted(moto_patches.PATCHES)}")
    names = [] if "all" in without else [name for name in moto_patches.PATCHES if name not in without]
    moto_patches.apply(names, moto_patches.Options(block_token_seconds=args.block_token_seconds))
    if args.corrupt_block_reads > 0:
        moto_patches.inject_corrupt_block_reads(args.corrupt_block_reads)
    # The first line of the log says which server this is.
    print(f"moto patches applied: {', '.join(names) or 'none'}", flush=True)
    server.main(["--host", args.host, "--port", str(args.port)])


if __name__ == "__main__":
    main()
