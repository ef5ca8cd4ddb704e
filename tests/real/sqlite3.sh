#!/usr/bin/env bash
# Real-program test: Debian's sqlite3 CLI under LD_PRELOAD=<lib>.
# Builds a ~100k-row database in a temp file (recursive CTEs, deterministic
# pseudo-random data), creates indexes, runs aggregates, joins, LIKE, GROUP BY,
# window functions, updates/deletes, VACUUM, integrity_check and .dump.  The
# whole output (queries + dump) and the final database file must be
# byte-identical to a run without the preload.
# Usage: tests/real/sqlite3.sh PATH/TO/libmpool.so
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
real_init "$@"
need_cmd sqlite3 sha256sum
check_preload
cd "$TMP"

cat >script.sql <<'SQL'
.bail on
.headers on
.mode list
PRAGMA page_size = 4096;
PRAGMA journal_mode = DELETE;
PRAGMA cache_size = -8000;
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT, score REAL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
                    item TEXT, qty INTEGER, price REAL, note TEXT);
CREATE TABLE cities(name TEXT PRIMARY KEY, country TEXT) WITHOUT ROWID;
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM c WHERE i < 49)
INSERT INTO cities SELECT 'city' || i, 'country' || (i % 7) FROM c;
WITH RECURSIVE c(i, h) AS (
    SELECT 1, 12345
    UNION ALL
    SELECT i+1, (h * 1103515245 + 12345) % 2147483648 FROM c WHERE i < 20000)
INSERT INTO customers
SELECT i,
       'cust_' || substr('abcdefghijklmnopqrstuvwxyz', h % 26 + 1, 1)
               || substr('abcdefghijklmnopqrstuvwxyz', (h / 26) % 26 + 1, 3) || '_' || i,
       'city' || (h / 1000 % 50),
       (h % 100000) / 1000.0
FROM c;
WITH RECURSIVE c(i, h) AS (
    SELECT 1, 987654
    UNION ALL
    SELECT i+1, (h * 1103515245 + 12345) % 2147483648 FROM c WHERE i < 100000)
INSERT INTO orders
SELECT i, h % 20000 + 1,
       'item-' || (h / 7 % 500),
       h / 13 % 20 + 1,
       (h / 17 % 100000) / 100.0,
       CASE WHEN h % 5 = 0 THEN NULL
            ELSE printf('%.*c', h / 19 % 120 + 1, 'x') || ' note ' || hex(h) END
FROM c;
COMMIT;
CREATE INDEX orders_customer ON orders(customer_id);
CREATE INDEX orders_item_qty ON orders(item, qty);
CREATE INDEX customers_city ON customers(city, score DESC);
CREATE UNIQUE INDEX customers_name ON customers(name);
ANALYZE;

SELECT count(*), sum(qty), round(sum(qty * price), 2), min(price), max(price), round(avg(price), 4) FROM orders;
SELECT count(*), count(DISTINCT city), round(avg(score), 4) FROM customers;
SELECT item, count(*) AS n, sum(qty) AS q, round(sum(qty*price), 2) AS revenue
  FROM orders GROUP BY item ORDER BY revenue DESC, item LIMIT 15;
SELECT c.city, count(o.id) AS n, round(sum(o.qty * o.price), 2) AS revenue
  FROM customers c JOIN orders o ON o.customer_id = c.id
  GROUP BY c.city HAVING n > 100 ORDER BY revenue DESC, c.city LIMIT 20;
SELECT ci.country, count(*) AS n, round(avg(o.price), 3)
  FROM orders o JOIN customers c ON c.id = o.customer_id JOIN cities ci ON ci.name = c.city
  GROUP BY ci.country ORDER BY ci.country;
SELECT count(*) FROM customers WHERE name LIKE 'cust_a%';
SELECT count(*) FROM orders WHERE note LIKE '%note 35%' AND item LIKE 'item-4_';
SELECT name, score FROM customers WHERE name GLOB 'cust_z*' ORDER BY score DESC, name LIMIT 10;
SELECT c.name, count(o.id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id
  GROUP BY c.id HAVING count(o.id) = 0 ORDER BY c.id LIMIT 10;
SELECT customer_id, id, price, rank() OVER (PARTITION BY customer_id ORDER BY price DESC, id) AS r
  FROM orders WHERE customer_id BETWEEN 100 AND 103 ORDER BY customer_id, r;
SELECT group_concat(item, ',') FROM (SELECT DISTINCT item FROM orders ORDER BY item LIMIT 40);
SELECT length(group_concat(note, '')) FROM orders WHERE customer_id % 3 = 0;
WITH t AS (SELECT customer_id, sum(qty) q FROM orders GROUP BY customer_id)
SELECT q, count(*) FROM t GROUP BY q ORDER BY count(*) DESC, q LIMIT 10;
SELECT upper(substr(note, 1, 3)), count(*) FROM orders WHERE note IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5;
SELECT json_group_array(json_object('id', id, 'item', item)) FROM (SELECT id, item FROM orders ORDER BY id LIMIT 20);
EXPLAIN QUERY PLAN SELECT * FROM orders WHERE customer_id = 42;

BEGIN;
UPDATE orders SET price = round(price * 1.1, 2), note = coalesce(note, 'n/a') WHERE qty > 15;
DELETE FROM orders WHERE id % 10 = 3;
DELETE FROM customers WHERE id NOT IN (SELECT customer_id FROM orders) AND id % 2 = 0;
INSERT INTO orders(customer_id, item, qty, price, note)
  SELECT customer_id, item || '-dup', qty, price, zeroblob(100) FROM orders WHERE id % 97 = 0;
COMMIT;
SELECT count(*), round(sum(price), 2) FROM orders;
SELECT count(*) FROM customers;
VACUUM;
PRAGMA integrity_check;
PRAGMA page_count;
SELECT count(*), round(sum(qty * price), 2) FROM orders WHERE item LIKE '%dup';
.headers off
.dump
SQL

run_one() {  # run_one ref|pre OUTDIR
    local mode=$1 dir=$2 rc=0
    mkdir -p "$dir"
    $mode timeout 120 sqlite3 "$dir/test.db" <script.sql >"$dir/out.txt" 2>"$dir/err.txt" || rc=$?
    if [ $rc -ne 0 ]; then
        tail -n 20 "$dir/err.txt" >&2
        fail "sqlite3 ($mode) exited with status $rc"
    fi
}
say "run without preload"
run_one ref r
say "run with preload"
run_one pre p
same_file r/err.txt p/err.txt "sqlite3 stderr"
same_file r/out.txt p/out.txt "sqlite3 output (queries + .dump)"
same_file r/test.db p/test.db "sqlite3 database file"
lines=$(wc -l <p/out.txt)
[ "$lines" -gt 100000 ] || fail "output unexpectedly short ($lines lines)"
grep -qx ok p/out.txt || fail "integrity_check did not print ok"
