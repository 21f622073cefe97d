"""Settings turn DATABASE_REPLICA_URLS into mirrored replica aliases; the router's rules without a replica."""

import json
import os
import subprocess
import sys
from pathlib import Path

from catalog.models import Product, Stock
from shop.core.db import ReplicaRouter

ROOT = Path(__file__).resolve().parent.parent.parent


def test_replica_urls_become_mirrored_aliases():
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REPLICA_MAX_LAG_SECONDS"}}
    env["DATABASE_REPLICA_URLS"] = "postgres://reader@10.0.0.2:5432/shop, postgres://reader@10.0.0.3:5432/shop"
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({a: [d['HOST'], d['TEST'].get('MIRROR'), d['OPTIONS'].get('connect_timeout')] "
        "for a, d in s.DATABASES.items()}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "shop.settings"},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    aliases = json.loads(result.stdout.strip().splitlines()[-1])
    assert aliases["replica_1"] == ["10.0.0.2", "default", 2]
    assert aliases["replica_2"] == ["10.0.0.3", "default", 2]


def test_without_replicas_everything_is_the_primary():
    router = ReplicaRouter()
    assert router.db_for_read(Product) == "default"
    assert router.db_for_read(Stock) == "default"
    assert router.db_for_write(Product) == "default"
    assert router.allow_migrate("replica_1", "catalog") is False
