"""`tinykube image ...`: manage the node's image store, with or without a running agent.

  tinykube image import FILE [--base-name NAME]   load an OCI layout or docker-save archive
  tinykube image ls                               REF, DIGEST, SIZE (as `crictl images`)
  tinykube image rm REF [REF...]                  remove references, then unused content
  tinykube image pull REF [--user USER:PASSWORD]  pull from a registry
  tinykube image busybox [--ref REF] [--if-missing]
                                                  make busybox:1.36 from Debian's static
                                                  busybox, for offline clusters

Every command takes --data-dir DIR (default /var/lib/tinykube). The store's file locks make
it safe to run these while an agent uses the same data dir.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tarfile

from tinykube.agent.images import localbusybox
from tinykube.agent.images.auth import Credentials
from tinykube.agent.images.errors import ImageError
from tinykube.agent.images.service import ImageService

DEFAULT_DATA_DIR = "/var/lib/tinykube"


def main(argv: list[str] | None = None) -> int:
    """Runs one image command; `argv` is what follows `tinykube image`."""
    args = parser().parse_args(argv)
    try:
        return asyncio.run(_COMMANDS[args.command](ImageService(args.data_dir), args))
    except (ImageError, OSError, tarfile.TarError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def parser(prog: str = "tinykube image") -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog=prog, description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = root.add_subparsers(dest="command", required=True)
    cmd_import = _command(sub, "import", "load an OCI layout or docker-save archive")
    cmd_import.add_argument("file")
    cmd_import.add_argument("--base-name", default="",
                            help="repository for images whose archive name is only a tag")
    _command(sub, "ls", "list images")
    _command(sub, "rm", "remove images").add_argument("refs", nargs="+", metavar="REF")
    cmd_pull = _command(sub, "pull", "pull an image from a registry")
    cmd_pull.add_argument("ref")
    cmd_pull.add_argument("--user", default="", help="USER:PASSWORD for the registry")
    cmd_busybox = _command(sub, "busybox", "make an image from Debian's static busybox (/bin/busybox)")
    cmd_busybox.add_argument("--ref", default=localbusybox.DEFAULT_REF)
    cmd_busybox.add_argument("--if-missing", action="store_true", help="do nothing if REF is there")
    return root


def _command(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    cmd = sub.add_parser(name, help=help_text)
    cmd.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    return cmd


async def _import(images: ImageService, args) -> int:
    return await _import_result(await images.import_archive(args.file, base_name=args.base_name))


async def _import_result(result) -> int:
    for record in result.records:
        print(f"unpacked {record.ref} ({record.target})")
    for why in result.skipped:
        print(f"skipped {why}", file=sys.stderr)
    return 0 if result.records else 1


async def _ls(images: ImageService, args) -> int:
    rows = [("REF", "DIGEST", "SIZE")]
    rows += [(r.ref, r.target[7:20], human_size(r.size)) for r in images.list_images()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("   ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


async def _rm(images: ImageService, args) -> int:
    status = 0
    for ref in args.refs:
        try:
            for removed in await images.remove(ref):
                print(f"Deleted: {removed}")
        except ImageError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 1
    return status


async def _pull(images: ImageService, args) -> int:
    user, _, password = args.user.partition(":")
    creds = [Credentials(user, password)] if args.user else []
    try:
        result = await images.pull(args.ref, credentials=creds)
    finally:
        await images.close()
    print(f"Image is up to date for {result.record.ref}" if result.unchanged
          else f"pulled {result.record.ref} ({result.record.target}) in {result.seconds:.2f}s")
    return 0


async def _busybox(images: ImageService, args) -> int:
    if args.if_missing and images.get_image(args.ref) is not None:
        print(f"{args.ref} is already in the store")
        return 0
    if not os.path.exists(localbusybox.BUSYBOX):
        print(f"error: {localbusybox.BUSYBOX} is missing (apt-get install busybox-static)", file=sys.stderr)
        return 1
    return await _import_result(await localbusybox.import_busybox(images, args.ref))


def human_size(size: float) -> str:
    """crictl's size column (go-units HumanSizeWithPrecision(size, 3)): 2.22MB, 812kB."""
    units = ("B", "kB", "MB", "GB", "TB", "PB")
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.3g}{units[i]}"


_COMMANDS = {"import": _import, "ls": _ls, "rm": _rm, "pull": _pull, "busybox": _busybox}

if __name__ == "__main__":
    sys.exit(main())
