-- Sends and deliveries in monthly partitions of requested_at (PostgreSQL), run by
-- migration 0024 inside its transaction. Frozen with the migration: it describes the
-- tables as 0023 left them.
--
-- A month is a Korea-time month, [YYYY-MM-01 00:00+09, next month 00:00+09): a partition
-- holds whole Korea-time days, the unit of retention and of the daily tallies.

-- The name of a month's partition: sendon_results_sendrequest_p2026_05.
CREATE OR REPLACE FUNCTION sendon_partition_name(parent text, month date)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT parent || '_p' || to_char(month, 'YYYY_MM')
$$;

-- Create the month's partitions of both tables where missing (beat calls it ahead of
-- time; so do writers that meet a month without one). The sends' partition gets the
-- unique index on (organization_id, external_id) that the parent cannot have (a unique
-- index of a partitioned table must hold requested_at). The deliveries' partition
-- references the sends' partition of the same month on (send_request_id, requested_at):
-- a key between the two months, not between the parents, so that detaching a month never
-- looks through every other month's deliveries; it also keeps a delivery's requested_at
-- its send's. The conversion below names its new parents and adds the keys once the rows
-- are in (`with_key` false).
CREATE OR REPLACE FUNCTION sendon_ensure_month(
    month date,
    with_key boolean DEFAULT true,
    sends_parent text DEFAULT 'sendon_results_sendrequest',
    deliveries_parent text DEFAULT 'sendon_results_delivery'
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    low text := format('%s 00:00:00+09', first);
    high text := format('%s 00:00:00+09', (first + interval '1 month')::date);
    sends text := sendon_partition_name('sendon_results_sendrequest', first);
    deliveries text := sendon_partition_name('sendon_results_delivery', first);
BEGIN
    IF to_regclass(sends) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       sends, sends_parent, low, high);
    END IF;
    IF to_regclass(sends || '_external_id') IS NULL THEN
        EXECUTE format('CREATE UNIQUE INDEX %I ON %I (organization_id, external_id)',
                       sends || '_external_id', sends);
    END IF;
    IF to_regclass(deliveries) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       deliveries, deliveries_parent, low, high);
    END IF;
    IF with_key AND NOT EXISTS (SELECT FROM pg_constraint
                                WHERE conrelid = deliveries::regclass
                                  AND conname = deliveries || '_send') THEN
        EXECUTE format(
            'ALTER TABLE %I ADD CONSTRAINT %I FOREIGN KEY (send_request_id, requested_at) '
            'REFERENCES %I (id, requested_at) DEFERRABLE INITIALLY DEFERRED',
            deliveries, deliveries || '_send', sends);
    END IF;
END $$;

-- The conversion. Writers (the ingest API, the purge) wait while the rows are copied,
-- about 15 s per million deliveries; pages go on reading the old tables until the last
-- step swaps the tables, in the same transaction. A writer that read the tables before
-- it waited holds them against the swap: PostgreSQL then reports a deadlock and one of
-- the two is cancelled (README "Monthly partitions": stop the writers while it runs).
SET LOCAL maintenance_work_mem = '512MB';
SET LOCAL work_mem = '256MB';
LOCK TABLE sendon_results_sendrequest, sendon_results_delivery IN SHARE MODE;

-- 1. New tables beside the old: the same columns in the same order, the deliveries with
--    their send's requested_at last; defaults and checks copied. PostgreSQL 15 has no
--    identity columns on partitioned tables: a sequence default gives Django the same
--    (INSERT ... RETURNING id).
CREATE TABLE sendon_results_sendrequest_new
    (LIKE sendon_results_sendrequest INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (requested_at);
CREATE TABLE sendon_results_delivery_new
    (LIKE sendon_results_delivery INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
     requested_at timestamptz NOT NULL)
    PARTITION BY RANGE (requested_at);
CREATE SEQUENCE sendon_results_sendrequest_id_seq_new OWNED BY sendon_results_sendrequest_new.id;
CREATE SEQUENCE sendon_results_delivery_id_seq_new OWNED BY sendon_results_delivery_new.id;

-- 2. A partition for each month from 24 back to three ahead, and for any other month a
--    send was requested in (rows far back or ahead get their months, and no more).
SELECT sendon_ensure_month(m, false, 'sendon_results_sendrequest_new',
                           'sendon_results_delivery_new')
FROM (
    SELECT DISTINCT date_trunc('month', requested_at AT TIME ZONE 'Asia/Seoul')::date AS m
    FROM sendon_results_sendrequest
    UNION
    SELECT generate_series(
        date_trunc('month', (now() - interval '24 months') AT TIME ZONE 'Asia/Seoul'),
        date_trunc('month', now() AT TIME ZONE 'Asia/Seoul') + interval '3 months',
        interval '1 month')::date
) AS months
ORDER BY m;

-- 3. The rows, before the indexes (one sort per index rather than an insert per row).
INSERT INTO sendon_results_sendrequest_new SELECT * FROM sendon_results_sendrequest;
INSERT INTO sendon_results_delivery_new
SELECT d.*, s.requested_at
FROM sendon_results_delivery d
JOIN sendon_results_sendrequest s ON s.id = d.send_request_id;
SELECT setval('sendon_results_sendrequest_id_seq_new', last_value, is_called)
FROM sendon_results_sendrequest_id_seq;
SELECT setval('sendon_results_delivery_id_seq_new', last_value, is_called)
FROM sendon_results_delivery_id_seq;

-- 4. Keys and indexes on the parents (each partition gets its own, new ones too). The
--    deliveries of one send share its requested_at: with it the unique key means what
--    (send_request_id, external_id) did. The other indexes and the foreign keys to
--    organizations and senders as the old tables have them, under names with "_new"
--    until the swap (index names are one namespace).
ALTER TABLE sendon_results_sendrequest_new
    ADD CONSTRAINT sendon_results_sendrequest_pkey_new PRIMARY KEY (id, requested_at);
ALTER TABLE sendon_results_delivery_new
    ADD CONSTRAINT sendon_results_delivery_pkey_new PRIMARY KEY (id, requested_at),
    ADD CONSTRAINT delivery_external_id_unique_new
        UNIQUE (send_request_id, external_id, requested_at);
CREATE TEMPORARY TABLE sendon_indexes ON COMMIT DROP AS
SELECT c.relname AS name
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid IN ('sendon_results_sendrequest'::regclass, 'sendon_results_delivery'::regclass)
  AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid);
-- The deliveries' indexes hold requested_at: a send's deliveries are asked for with it
-- (the partition key), and the list's recipient and code filters bound it by the period.
CREATE INDEX delivery_send_id_new
    ON sendon_results_delivery_new (send_request_id, requested_at, id);
CREATE INDEX delivery_send_status_id_new
    ON sendon_results_delivery_new (send_request_id, requested_at, status, id);
CREATE INDEX delivery_org_recipient_new
    ON sendon_results_delivery_new (organization_id, recipient, send_request_id, requested_at);
CREATE INDEX delivery_org_code_new
    ON sendon_results_delivery_new (organization_id, result_code, send_request_id, requested_at);
CREATE INDEX delivery_org_recipient_end_new
    ON sendon_results_delivery_new
    (organization_id, "right"(recipient::text, 4), send_request_id, recipient, requested_at);
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT regexp_replace(pg_get_indexdef(c.oid),
                              '^(CREATE INDEX )(\S+)( ON )(\S+)( .*)$', '\1\2_new\3\4_new\5')
               AS statement
        FROM sendon_indexes JOIN pg_class c ON c.relname = sendon_indexes.name
        WHERE c.oid IN (SELECT indexrelid FROM pg_index
                        WHERE indrelid = 'sendon_results_sendrequest'::regclass)
        UNION ALL
        SELECT format('ALTER TABLE %s_new ADD CONSTRAINT %I %s', k.conrelid::regclass,
                      k.conname, pg_get_constraintdef(k.oid))
        FROM pg_constraint k
        WHERE k.conrelid IN ('sendon_results_sendrequest'::regclass,
                             'sendon_results_delivery'::regclass)
          AND k.contype = 'f' AND k.confrelid <> 'sendon_results_sendrequest'::regclass
    LOOP
        EXECUTE r.statement;
    END LOOP;
END $$;
-- Each month's deliveries to that month's sends, validated once.
SELECT sendon_ensure_month(to_date(right(c.relname, 7), 'YYYY_MM'))
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'sendon_results_sendrequest_new'::regclass;

-- Statistics before the swap: pages read the old tables meanwhile.
ANALYZE sendon_results_sendrequest_new;
ANALYZE sendon_results_delivery_new;

-- 5. The same rows, or nothing; then the swap: the old tables go, the new take their
--    names (a failed conversion leaves the install as it was).
DO $$
BEGIN
    IF (SELECT count(*) FROM sendon_results_sendrequest_new)
       <> (SELECT count(*) FROM sendon_results_sendrequest)
    OR (SELECT count(*) FROM sendon_results_delivery_new)
       <> (SELECT count(*) FROM sendon_results_delivery) THEN
        RAISE EXCEPTION 'row counts differ after the copy';
    END IF;
END $$;
DROP TABLE sendon_results_delivery, sendon_results_sendrequest;
ALTER TABLE sendon_results_sendrequest_new RENAME TO sendon_results_sendrequest;
ALTER TABLE sendon_results_delivery_new RENAME TO sendon_results_delivery;
ALTER SEQUENCE sendon_results_sendrequest_id_seq_new RENAME TO sendon_results_sendrequest_id_seq;
ALTER SEQUENCE sendon_results_delivery_id_seq_new RENAME TO sendon_results_delivery_id_seq;
ALTER TABLE sendon_results_sendrequest
    ALTER id SET DEFAULT nextval('sendon_results_sendrequest_id_seq');
ALTER TABLE sendon_results_delivery
    ALTER id SET DEFAULT nextval('sendon_results_delivery_id_seq');
ALTER TABLE sendon_results_sendrequest
    RENAME CONSTRAINT sendon_results_sendrequest_pkey_new TO sendon_results_sendrequest_pkey;
ALTER TABLE sendon_results_delivery
    RENAME CONSTRAINT sendon_results_delivery_pkey_new TO sendon_results_delivery_pkey;
ALTER TABLE sendon_results_delivery
    RENAME CONSTRAINT delivery_external_id_unique_new TO delivery_external_id_unique;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT name FROM sendon_indexes LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.name || '_new', r.name);
    END LOOP;
END $$;
