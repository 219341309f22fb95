"""Write undelivered entries (identities still sealed) to a file, for a venue with no network.

Carry the file to the city and run `kiosk-city import FILE`. The entries stay undelivered here
until the city has them, learnt either way: `kiosk export --receipt RECEIPT` with the signed
receipt `kiosk-city import` wrote (checked against sync.bundle_public_key), or the next online
`kiosk sync`, which the city acknowledges as already present.
"""

from __future__ import annotations

from kiosk.commands._common import add_config_argument, load_config


def add_arguments(parser) -> None:
    add_config_argument(parser)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--out", metavar="FILE", help="write the undelivered entries to FILE (JSON Lines)")
    what.add_argument("--receipt", metavar="FILE",
                      help="read back a kiosk-city import receipt: mark the entries it lists delivered")


def run(args) -> int:
    from kiosk.errors import ConfigError
    from kiosk.journal import Journal
    from sync.carry import apply_receipt, write_export
    from sync.retention import housekeeping

    config = load_config(args)
    with Journal(config.journal_path) as journal:
        if args.receipt:
            if not config.sync.bundle_public_key:
                raise ConfigError("sync.bundle_public_key: needed to check the city's signature on a receipt")
            changed = apply_receipt(journal, config.kiosk.id, config.sync.bundle_public_key, args.receipt)
            housekeeping(journal, config.journal.retention_days, config.journal.disk_alarm_percent)
            left = journal.counts()["undelivered"]
            print(f"{changed} entries marked delivered by the receipt; {left} left undelivered")
            return 0
        from sync.progress import progress

        with progress(journal.counts()["undelivered"], "export") as bar:
            result = write_export(journal, config.kiosk.id, config.kiosk.venue, args.out, on_page=bar.update)
    print(f"{result.entries} entries written to {result.path} (export {result.export_id}); "
          f"they count as delivered once kiosk-city has imported them")
    return 0
