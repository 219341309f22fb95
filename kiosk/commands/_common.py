"""Helpers shared by the subcommands."""

from __future__ import annotations

from kiosk import config as config_mod


def add_config_argument(parser) -> None:
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="the kiosk's TOML config (default $KIOSK_CONFIG or /etc/kiosk/config.toml)")


def load_config(args) -> config_mod.Config:
    """The config named on the command line; a bad one raises ConfigError (exit 2)."""
    return config_mod.load(args.config or config_mod.default_path())
