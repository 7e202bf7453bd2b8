"""python -m harness COMMAND

  source-hash         print the hash the caches are keyed on
  prepare [SETUP...]  build what a test run restores, if missing, on
                      TRYTOND_DATABASE_URI's backend: the base database,
                      Tryton's test cache, and the worlds of the setup
                      functions named (dotted); CI builds PostgreSQL's
                      while the SQLite tests run
  prune               drop what older sources built
  web-client          install Tryton's web client (sao) into the cache,
                      for the browser tests; fails when it cannot
"""
import sys

from harness.databases import Cache, cache_root, source_hash
from harness.web_client import install_web_client


def main(command, *args):
    if command == 'source-hash':
        print(source_hash())
    elif command == 'prepare':
        cache = Cache(cache_root())
        cache.seed_tryton()
        for setup in args:
            cache.world(setup)
    elif command == 'prune':
        Cache(cache_root()).prune()
    elif command == 'web-client':
        if install_web_client(cache_root()) is None:
            sys.exit("Tryton's web client could not be installed "
                "(npm is needed)")
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(*sys.argv[1:] or ['help'])
