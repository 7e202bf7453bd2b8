"""python -m harness COMMAND

  source-hash       print the hash the caches are keyed on
  prepare ROOT      build the base database (if missing) and seed Tryton's
                    test cache from it, on TRYTOND_DATABASE_URI's backend
  prune ROOT        drop what older sources built (PostgreSQL: databases)
"""
import sys

from harness.databases import Cache, source_hash


def main(command, *args):
    if command == 'source-hash':
        print(source_hash())
    elif command == 'prepare':
        Cache(*args).seed_tryton()
    elif command == 'prune':
        Cache(*args).prune()
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(*sys.argv[1:] or ['help'])
