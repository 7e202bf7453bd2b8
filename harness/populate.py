"""python -m harness.populate CONFIG DATABASE SETUP OUT

Runs SETUP (a dotted function taking no argument and returning a dict) in
a proteus session of this process on DATABASE and writes what it returns
to OUT as JSON (see harness.databases.populate)."""
import json
import sys
from importlib import import_module
from pathlib import Path


def main(config, database, setup, out):
    from proteus import config as proteus_config
    proteus_config.set_trytond(database, config_file=config)
    module, _, function = setup.rpartition('.')
    result = getattr(import_module(module), function)()
    Path(out).write_text(json.dumps(result))


if __name__ == '__main__':
    main(*sys.argv[1:])
