#!/usr/bin/env bash
# The scale benchmark (docs/benchmarks.md): seeds a PostgreSQL database with ~10M deliveries
# in 1M sends over 13 months for 5 organizations, then measures the results list and
# detail pages, a 1M-row export, a monthly statement and the daily purge (on a copy).
#   make bench                      # PostgreSQL on 127.0.0.1:5432, database sendon_bench
#   BENCH_SERVER=postgres://user@host:5432 BENCH_DB=name make bench
set -euo pipefail
cd "$(dirname "$0")/.."

server=${BENCH_SERVER:-postgres://postgres@127.0.0.1:5432}
db=${BENCH_DB:-sendon_bench}
python=.venv/bin/python
export DATABASE_URL="$server/$db"

exists() { psql "$server/postgres" -Atc "SELECT 1 FROM pg_database WHERE datname = '$1'" | grep -q 1; }
exists "$db" || psql -q "$server/postgres" -c "CREATE DATABASE $db"

echo "== Data set"
$python manage.py migrate --noinput -v0
$python manage.py seed_scale

echo "== Results list and detail pages"
$python manage.py bench_results --repeat 20 --depth 100
$python manage.py bench_results --repeat 20 --depth 20 --organization 서울온약국  # 2% of the rows

echo "== The monthly partitions each page's queries plan and read"
$python manage.py bench_partitions

echo "== Dashboard, failure analysis, one number's history, a lookup of 10,000 numbers"
$python manage.py bench_dashboard
$python manage.py bench_failures
$python manage.py bench_history --days 8
$python manage.py bench_lookup --repeat 3

echo "== Export of 1,000,000 rows"
$python manage.py bench_export --rows 1000000 --format xlsx
$python manage.py bench_export --rows 1000000 --format csv

echo "== Statement of last month"
first=$(date -d "$(date +%Y-%m-01) -1 month" +%F)
last=$(date -d "$(date +%Y-%m-01) -1 day" +%F)
$python manage.py bench_statement --from "$first" --to "$last" --summary-only
$python manage.py bench_statement --from "$first" --to "$last"

echo "== Daily purge, on a copy of the data set"
copy="${db}_purge"
psql -q "$server/postgres" -c "DROP DATABASE IF EXISTS $copy" -c "CREATE DATABASE $copy TEMPLATE $db"
DATABASE_URL="$server/$copy" $python manage.py bench_purge --baseline 8
psql -q "$server/postgres" -c "DROP DATABASE $copy"
