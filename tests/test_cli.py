"""The oms-sync command against the real ERP, as an IT admin runs it."""
import json
import os
import subprocess
import sys
from pathlib import Path

from oms_connector.tests.tools import order_payload

OMS_SYNC = Path(sys.executable).with_name('oms-sync')


def run(erp, *args, key=None):
    env = dict(os.environ,
        OMS_ERP_URL=erp.url, OMS_ERP_DATABASE=erp.database)
    if key:
        env['OMS_ERP_KEY'] = key
    return subprocess.run([str(OMS_SYNC), *args], env=env,
        capture_output=True, text=True, timeout=60)


def test_import_orders_file_then_read_cursor(erp, tmp_path):
    key = erp.world['shop_key']
    orders = tmp_path / 'orders.json'
    orders.write_text(json.dumps([
                order_payload('shop', 'cli-1',
                    lines=[('TS-RED-M', 1, '19.50')]),
                order_payload('shop', 'cli-2', lines=[('MYSTERY', 1, '1')]),
                ]))

    imported = run(erp, 'import-orders', 'shop', str(orders),
        '--cursor', 'cli-cursor', key=key)
    cursor = run(erp, 'cursor', 'shop', key=key)

    assert imported.returncode == 0, imported.stderr
    lines = imported.stdout.splitlines()
    assert lines[0].startswith('cli-1\tcreated\t')
    assert lines[1].startswith('cli-2\texception\t')
    assert 'HELD: Unknown SKU "MYSTERY"' in lines[1]
    assert lines[-1] == "2 order(s), 1 on hold; cursor cli-cursor"
    assert cursor.stdout.strip() == 'cli-cursor'
    assert key not in imported.stdout + imported.stderr

    unknown = run(erp, 'cursor', 'nosuch', key=key)
    assert unknown.returncode == 1
    # What the ERP pointed at, said once
    assert unknown.stderr.count('"channel"') == 1, unknown.stderr


def test_refusals_are_clear_and_never_show_the_key(erp, tmp_path):
    missing_key = run(erp, 'channels')
    wrong_key = run(erp, 'channels', key='wrong-key-123')
    not_orders = tmp_path / 'bad.json'
    not_orders.write_text(json.dumps([{'channel': 'shop'}]))
    invalid = run(erp, 'import-orders', 'shop', str(not_orders),
        key=erp.world['shop_key'])

    assert missing_key.returncode != 0
    assert 'OMS_ERP_KEY' in missing_key.stderr
    assert wrong_key.returncode == 1
    assert '401 unauthorized' in wrong_key.stderr
    assert 'wrong-key-123' not in wrong_key.stderr
    assert invalid.returncode == 2
    assert 'external_id' in invalid.stderr
