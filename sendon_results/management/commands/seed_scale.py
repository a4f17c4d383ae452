"""Seeds PostgreSQL with the scale data set: ~10M deliveries in 1M sends over 13 months.

Five organizations, the first holding 80% of the rows, plus one 10,000-recipient campaign
for the detail page. The rows are generated inside PostgreSQL (INSERT … SELECT over
generate_series), a few minutes for the whole set where the Python demo generator would
take over twenty. Every send's counts and points add up to its deliveries, as the ingest
API keeps them, and are counted again at the end. Each case is as it really happens, as in
the demo: reservations due after now with waiting recipients, cancelled ones with their
time and nothing sent, failed requests with their reason on every recipient. Idempotent: an
organization that already holds its sends is left alone.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from ... import partitions
from ...demo import (
    CARRIER_FAILURE_TEXT,
    DEMO_NUMBER,
    FAILURE_REASONS,
    HISTORY_DAYS,
    KAKAO_BODIES,
    KAKAO_FAILURE_TEXT,
    LIVE_STATUSES,
    LMS_BODIES,
    MANAGER,
    NAMES,
    SMS_BODIES,
    ensure_demo_accounts,
)
from ...models import Membership, Organization, SenderProfile, SendRequest
from ...result_codes import REQUEST_FAILED
from ...tallies import rebuild_tallies

# The demo's two organizations first (so the demo logins see the big one), then three more.
SHARES = (
    ("한빛커머스", "한빛커머스", 0.80),
    ("푸른치과의원", "푸른치과", 0.08),
    ("다온학원", "다온학원", 0.06),
    ("바른세무회계", "바른세무", 0.04),
    ("서울온약국", "온약국", 0.02),
)
CHUNKS = 26  # per organization: about two weeks of history per transaction
CAMPAIGN_SIZE = 10_000
CAMPAIGN_ID = "scale-campaign-10000"

# One send per row of generate_series. `g` places it in the 13 months (oldest first),
# the r_* columns are its dice. Counts are drawn so they add up by construction. The
# newest sends take the demo's live statuses, minutes apart, so the first page shows each
# case; a few other sends of the last three days are reservations still waiting.
SENDS_SQL = """
WITH dice AS MATERIALIZED (
    SELECT g, random() AS r_time, random() AS r_hour, random() AS r_channel,
           random() AS r_size, random() AS r_size2, random() AS r_status, random() AS r_fail,
           random() AS r_round, random() AS r_body, random() AS r_sender, random() AS r_source,
           random() AS r_fallback, random() AS r_scheduled
    FROM generate_series(%(first)s, %(last)s) AS g
), shaped AS (
    SELECT d.*,
        CASE WHEN g > %(n)s - %(live_n)s
             THEN date_trunc('second', now()) - interval '25 minutes' * (%(n)s - g + 1)
             ELSE least(
                (date_trunc('day', (now() - interval '395 days' * (1 - (g - 1 + r_time) / %(n)s))
                    AT TIME ZONE 'Asia/Seoul') + interval '9 hours' + interval '10 hours' * r_hour)
                    AT TIME ZONE 'Asia/Seoul',
                now() - interval '5 minutes'
             ) END AS at,
        CASE WHEN r_channel < 0.35 THEN 'sms' WHEN r_channel < 0.55 THEN 'lms'
             WHEN r_channel < 0.60 THEN 'mms' WHEN r_channel < 0.90 THEN 'alimtalk'
             ELSE 'friendtalk' END AS channel,
        CASE WHEN r_size < 0.30 THEN 1
             WHEN r_size < 0.99 THEN 2 + floor(r_size2 * 21)::int
             ELSE 100 + floor(r_size2 * 101)::int END AS recipients
    FROM dice d
), decided AS (
    SELECT s.*,
        CASE WHEN g > %(n)s - %(live_n)s THEN (%(live)s::text[])[%(n)s - g + 1]
             WHEN r_status < 0.015 THEN 'failed'
             WHEN r_status < 0.030 THEN 'cancelled'
             WHEN r_status < 0.060 AND at > now() - interval '3 days' THEN 'in_progress'
             WHEN r_status < 0.070 AND at > now() - interval '3 days' THEN 'reserved'
             ELSE 'completed' END AS status,
        channel IN ('alimtalk', 'friendtalk') AS kakao,
        CASE channel WHEN 'sms' THEN 9 WHEN 'lms' THEN 30 WHEN 'mms' THEN 60
                     WHEN 'alimtalk' THEN 7 ELSE 15 END AS price
    FROM shaped s
), counted AS (
    -- A reservation's recipients wait and a cancelled one's are cancelled; a failed request
    -- fails them all; a send in progress keeps at least one waiting for its carrier.
    SELECT d.*,
        CASE WHEN kakao THEN (%(kakao_bodies)s::text[])[1 + floor(r_body * %(kakao_n)s)::int]
             WHEN channel = 'sms' THEN (%(sms_bodies)s::text[])[1 + floor(r_body * %(sms_n)s)::int]
             ELSE (%(lms_bodies)s::text[])[1 + floor(r_body * %(lms_n)s)::int] END AS body,
        CASE WHEN status = 'failed' THEN recipients
             WHEN status = 'completed'
             THEN least(recipients, floor(recipients * 0.2 * r_fail + r_round)::int)
             ELSE 0 END AS failures,
        CASE WHEN status = 'in_progress' THEN ceil(recipients * 0.4)::int
             WHEN status = 'sending_now' THEN recipients ELSE 0 END AS sending,
        CASE WHEN status IN ('reserved', 'cancelling') THEN recipients ELSE 0 END AS waiting,
        CASE WHEN status = 'cancelled' THEN recipients ELSE 0 END AS cancelled
    FROM decided d
), fallen AS (
    SELECT c.*, recipients - failures - sending - waiting - cancelled AS successes,
        kakao AND r_fallback < 0.6 AS fallback,
        CASE WHEN kakao AND r_fallback < 0.6
             THEN floor((recipients - failures - sending - waiting - cancelled) * 0.05
                        + r_round)::int
             ELSE 0 END AS by_text,
        CASE WHEN char_length(body) > 90 THEN 30 ELSE 9 END AS text_price
    FROM counted c
)
INSERT INTO sendon_results_sendrequest (
    organization_id, external_id, requested_at, source, channel, sender_id, title, body,
    scheduled_at, fallback, status, failure_reason, points_charged, points_refunded,
    recipient_count, success_count, failure_count, sending_count, waiting_count,
    cancelled_count, content_hash, created_at, updated_at)
SELECT %(organization)s, 'scale-' || %(organization)s || '-' || lpad(g::text, 8, '0'), at,
    CASE WHEN r_source < 0.6 THEN 'api' ELSE 'web' END, channel,
    CASE WHEN kakao THEN (%(kakao_senders)s::bigint[])[1 + floor(r_sender * %(kakao_s)s)::int]
         ELSE (%(phone_senders)s::bigint[])[1 + floor(r_sender * %(phone_s)s)::int] END,
    CASE WHEN channel IN ('lms', 'mms') THEN split_part(body, E'\n', 1) ELSE '' END,
    body,
    -- A reservation still pending (or released before its time) is due after now, on a
    -- ten-minute mark up to two days ahead; a cancelled one was due some hours after its
    -- request, whether or not that time has passed.
    CASE WHEN status IN ('reserved', 'cancelling', 'sending_now')
         THEN date_trunc('hour', now()) + interval '2 hours'
              + interval '10 minutes' * floor(r_scheduled * 282)
         WHEN status = 'cancelled'
         THEN at + interval '2 hours' + interval '10 minutes' * floor(r_scheduled * 420) END,
    fallback, status,
    -- A reason that fits the send: fallback points only where there is a fallback text,
    -- the calling number only where one is used (texts; KakaoTalk falling back to one).
    CASE WHEN status <> 'failed' THEN ''
         WHEN fallback AND r_fail < 0.5 THEN %(fallback_points)s
         WHEN fallback OR NOT kakao THEN %(calling_number)s
         ELSE %(points)s END,
    price * (recipients - by_text) + text_price * by_text, price * (failures + cancelled),
    recipients, successes, failures, sending, waiting, cancelled, '', now(), now()
FROM fallen
ORDER BY at
"""

# The recipients of the sends just inserted, in runs by outcome: the first
# `success_count - by_text` succeed on the send's channel, the next `by_text` by the
# fallback text, then the failures, the ones sending, waiting and cancelled. A failed
# request's recipients carry its reason; those never sent have no carrier, time or result.
# The other columns vary with the row number.
DELIVERIES_SQL = """
INSERT INTO sendon_results_delivery (
    send_request_id, organization_id, external_id, recipient, recipient_name, status,
    result_code, result_message, final_channel, carrier, sent_at, completed_at,
    points_charged, points_refunded, requested_at)
SELECT s.id, s.organization_id, s.external_id || '-' || lpad(i::text, 5, '0'),
    CASE WHEN i = 1 AND s.id %% 17 = 0 THEN %(demo_number)s
         ELSE '010' || lpad(floor(random() * 1e8)::bigint::text, 8, '0') END,
    CASE WHEN (s.id + i) %% 2 = 0 THEN (%(names)s::text[])[1 + (s.id + i) %% %(names_n)s]
         ELSE '' END,
    CASE WHEN i <= t.succeeded THEN 'success' WHEN i <= t.final THEN 'failure'
         WHEN i <= t.handed THEN 'sending' WHEN i <= t.reserved THEN 'waiting'
         ELSE 'cancelled' END,
    CASE WHEN i <= s.success_count - t.by_text THEN
              CASE WHEN t.kakao THEN '0000' ELSE '1000' END
         WHEN i <= t.succeeded THEN '1000'
         WHEN i <= t.final THEN
              CASE WHEN s.status = 'failed' THEN %(request_failed)s
                   WHEN t.kakao THEN (%(kakao_codes)s::text[])[1 + (s.id * 7 + i) %% %(kakao_c)s]
                   ELSE (%(carrier_codes)s::text[])[1 + (s.id * 7 + i) %% %(carrier_c)s] END
         WHEN i <= t.handed AND t.kakao THEN '3005' ELSE '' END,
    CASE WHEN i <= s.success_count - t.by_text THEN '성공'
         WHEN i <= t.succeeded THEN '성공(대체문자)'
         WHEN i <= t.final THEN
              CASE WHEN s.status = 'failed' THEN left(s.failure_reason, 300)
                   WHEN t.kakao THEN (%(kakao_texts)s::text[])[1 + (s.id * 7 + i) %% %(kakao_c)s]
                   ELSE (%(carrier_texts)s::text[])[1 + (s.id * 7 + i) %% %(carrier_c)s] END
         WHEN i <= t.handed AND t.kakao THEN '수신 확인 대기' ELSE '' END,
    CASE WHEN i > s.success_count - t.by_text AND i <= t.succeeded
         THEN t.text_channel ELSE s.channel END,
    -- A carrier only for what went as a text (KakaoTalk goes through no mobile carrier;
    -- its fallback text does).
    CASE WHEN i <= t.handed AND s.status <> 'failed'
              AND (NOT t.kakao OR (i > s.success_count - t.by_text AND i <= t.succeeded))
         THEN (ARRAY['SKT', 'KT', 'LG U+'])[1 + (s.id + i) %% 3] ELSE '' END,
    -- Times never after now: the newest sends are only minutes old.
    CASE WHEN i <= t.handed AND s.status <> 'failed'
         THEN least(s.requested_at + make_interval(secs => 1 + (s.id + i) %% 29), now()) END,
    CASE WHEN i <= t.final AND s.status = 'failed'
         THEN s.requested_at + make_interval(secs => 1 + s.id %% 29)
         WHEN i <= t.final
         THEN least(s.requested_at + make_interval(secs => 30 + (s.id * 3 + i) %% 600), now())
         END,
    CASE WHEN i > s.success_count - t.by_text AND i <= t.succeeded
         THEN t.text_price ELSE t.price END,
    CASE WHEN (i > t.succeeded AND i <= t.final) OR i > t.reserved THEN t.price ELSE 0 END,
    s.requested_at
FROM sendon_results_sendrequest s
CROSS JOIN LATERAL (
    SELECT s.channel IN ('alimtalk', 'friendtalk') AS kakao,
        CASE s.channel WHEN 'sms' THEN 9 WHEN 'lms' THEN 30 WHEN 'mms' THEN 60
                       WHEN 'alimtalk' THEN 7 ELSE 15 END AS price,
        CASE WHEN char_length(s.body) > 90 THEN 'lms' ELSE 'sms' END AS text_channel,
        CASE WHEN char_length(s.body) > 90 THEN 30 ELSE 9 END AS text_price,
        -- Where each run of outcomes ends.
        s.success_count AS succeeded,
        s.success_count + s.failure_count AS final,
        s.success_count + s.failure_count + s.sending_count AS handed,
        s.success_count + s.failure_count + s.sending_count + s.waiting_count AS reserved
) t0
CROSS JOIN LATERAL (
    -- by_text, recovered from the points: charged = price·(n − k) + text_price·k
    SELECT t0.*, CASE WHEN t0.text_price = t0.price THEN 0
                      ELSE ((s.points_charged - t0.price * s.recipient_count)
                            / (t0.text_price - t0.price))::int END AS by_text
) t
CROSS JOIN LATERAL generate_series(1, s.recipient_count) AS i
WHERE s.organization_id = %(organization)s AND s.id > %(after)s
"""

# Sends whose counts or points differ from their deliveries, counted again from the rows:
# the CHECK only sees that the counts add up to recipient_count. Once, after ANALYZE: one
# hash aggregate over every delivery (1.7 s per million rows here), where a check per chunk
# on tables without statistics cost 30 s per million.
MISMATCHED_SQL = """
SELECT count(*)
FROM sendon_results_sendrequest s
LEFT JOIN (
    SELECT send_request_id, count(*) AS recipients,
        count(*) FILTER (WHERE status = 'success') AS success,
        count(*) FILTER (WHERE status = 'failure') AS failure,
        count(*) FILTER (WHERE status = 'sending') AS sending,
        count(*) FILTER (WHERE status = 'waiting') AS waiting,
        count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
        sum(points_charged) AS charged, sum(points_refunded) AS refunded
    FROM sendon_results_delivery
    GROUP BY send_request_id
) d ON d.send_request_id = s.id
WHERE d.send_request_id IS NULL OR s.recipient_count <> d.recipients
   OR s.success_count <> d.success OR s.failure_count <> d.failure
   OR s.sending_count <> d.sending OR s.waiting_count <> d.waiting
   OR s.cancelled_count <> d.cancelled
   OR s.points_charged <> d.charged OR s.points_refunded <> d.refunded
"""


class Command(BaseCommand):
    help = "Seed PostgreSQL with ~10M deliveries in 1M sends over 13 months, 5 organizations."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sends", type=int, default=1_000_000, help="of all organizations")

    def handle(self, *args: Any, sends: int, verbosity: int, **options: Any) -> None:
        self.verbosity = verbosity
        if connection.vendor != "postgresql":
            raise CommandError("seed_scale generates rows inside PostgreSQL; set DATABASE_URL.")
        started = time.monotonic()
        ensure_demo_accounts()
        # The 13 months' partitions, and the next's: the purge may have dropped the oldest.
        partitions.ensure_since(timezone.now() - dt.timedelta(days=HISTORY_DAYS + 1))
        for name, brand, share in SHARES:
            organization = self._organization(name)
            target = round(sends * share)
            have = SendRequest.objects.filter(organization=organization).count()
            if have >= target:
                self.stdout.write(f"{name}: {have:,} sends already")
                continue
            self._seed(organization, brand, target)
        self._campaign()
        self.stdout.write("VACUUM ANALYZE, then every send counted again …")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE sendon_results_sendrequest")
            cursor.execute("VACUUM ANALYZE sendon_results_delivery")
            cursor.execute(MISMATCHED_SQL)
            (mismatched,) = cursor.fetchone()
        if mismatched:
            raise CommandError(
                f"{mismatched:,} sends' counts or points differ from their deliveries"
            )
        self.stdout.write("The daily tallies, counted from the rows …")
        rebuild_tallies()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM sendon_results_sendrequest")
            (total_sends,) = cursor.fetchone()
            cursor.execute("SELECT sum(recipient_count) FROM sendon_results_sendrequest")
            (total_deliveries,) = cursor.fetchone()
        self.stdout.write(
            f"{total_sends:,} sends, {total_deliveries:,} deliveries; "
            f"{time.monotonic() - started:.0f} s"
        )

    def _organization(self, name: str) -> Organization:
        organization, _ = Organization.objects.get_or_create(name=name)
        # The demo's manager works in every organization, to sign in to any of them.
        manager = get_user_model().objects.get(username=MANAGER[0])
        Membership.objects.get_or_create(
            user=manager, organization=organization, defaults={"role": Membership.Role.OPERATOR}
        )
        if not organization.sender_profiles.exists():
            SenderProfile.objects.create(
                organization=organization, kind="phone", value="15880000", label="대표번호"
            )
            SenderProfile.objects.create(
                organization=organization, kind="kakao", value=f"key-{organization.pk}", label=name
            )
        return organization

    def _seed(self, organization: Organization, brand: str, target: int) -> None:
        senders = organization.sender_profiles.order_by("id")
        phone = [s.pk for s in senders if s.kind == "phone"]
        kakao = [s.pk for s in senders if s.kind == "kakao"]
        bodies = _bodies(brand)
        edges = [round(target * k / CHUNKS) for k in range(CHUNKS + 1)]
        seeded, started = 0, time.monotonic()
        for first, last in zip(edges, edges[1:], strict=False):
            chunk_started = time.monotonic()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT coalesce(max(id), 0) FROM sendon_results_sendrequest")
                (after,) = cursor.fetchone()
                cursor.execute(
                    SENDS_SQL,
                    {
                        "organization": organization.pk,
                        "first": first + 1,
                        "last": last,
                        "n": target,
                        "phone_senders": phone,
                        "phone_s": len(phone),
                        "kakao_senders": kakao,
                        "kakao_s": len(kakao),
                        "live": [status.value for status in LIVE_STATUSES],
                        "live_n": len(LIVE_STATUSES),
                        "fallback_points": FAILURE_REASONS["fallback_points"],
                        "calling_number": FAILURE_REASONS["calling_number"],
                        "points": FAILURE_REASONS["points"],
                        **bodies,
                    },
                )
                cursor.execute(DELIVERIES_SQL, _delivery_words(organization.pk, after))
                deliveries = cursor.rowcount
            seeded += deliveries
            if self.verbosity > 1:
                self.stdout.write(
                    f"{organization.name}: sends {first + 1:,}–{last:,} of {target:,}, "
                    f"{deliveries:,} deliveries in {time.monotonic() - chunk_started:.1f} s"
                )
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"{organization.name}: {target:,} sends, {seeded:,} deliveries in {elapsed:.0f} s "
            f"({seeded / elapsed:,.0f} deliveries/s)"
        )

    def _campaign(self) -> None:
        """One 10,000-recipient AlimTalk send ten days ago, for the detail page."""
        organization = Organization.objects.get(name=SHARES[0][0])
        if SendRequest.objects.filter(organization=organization, external_id=CAMPAIGN_ID).exists():
            return
        kakao = organization.sender_profiles.filter(kind="kakao").first()
        if kakao is None:
            raise CommandError(f"{organization.name} has no KakaoTalk profile to send from.")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(max(id), 0) FROM sendon_results_sendrequest")
            (after,) = cursor.fetchone()
            failures = 870  # AlimTalk at 7 points, no fallback text
            cursor.execute(
                """
                INSERT INTO sendon_results_sendrequest (
                    organization_id, external_id, requested_at, source, channel, sender_id,
                    title, body, fallback, status, failure_reason, points_charged,
                    points_refunded, recipient_count, success_count, failure_count,
                    sending_count, content_hash, created_at, updated_at)
                VALUES (%s, %s, now() - interval '10 days', 'api', 'alimtalk', %s, '',
                    %s, false, 'completed', '', %s, %s, %s, %s, %s, 0, '', now(), now())
                """,
                [
                    organization.pk,
                    CAMPAIGN_ID,
                    kakao.pk,
                    KAKAO_BODIES[0].format(
                        brand="한빛커머스", name="고객", invoice="2026112700001", amount="39,000"
                    ),
                    7 * CAMPAIGN_SIZE,
                    7 * failures,
                    CAMPAIGN_SIZE,
                    CAMPAIGN_SIZE - failures,
                    failures,
                ],
            )
            cursor.execute(DELIVERIES_SQL, _delivery_words(organization.pk, after))
        self.stdout.write(f"{organization.name}: one {CAMPAIGN_SIZE:,}-recipient campaign")


def _bodies(brand: str) -> dict[str, list[str] | int]:
    """Message texts of this organization, drawn from the demo's templates."""
    rng = random.Random(brand)

    def words() -> dict[str, object]:
        return {
            "brand": brand,
            "name": rng.choice(NAMES),
            "code": f"{rng.randrange(10**6):06d}",
            "invoice": f"{rng.randrange(10**11, 10**12)}",
            "hour": 9 + rng.randrange(10),
            "amount": f"{rng.randrange(10, 500) * 1000:,}",
        }

    sms = [rng.choice(SMS_BODIES).format(**words()) for _ in range(300)]
    lms = [rng.choice(LMS_BODIES)[1].format(**words()) for _ in range(100)]
    kakao = [rng.choice(KAKAO_BODIES).format(**words()) for _ in range(300)]
    return {
        "sms_bodies": sms,
        "sms_n": len(sms),
        "lms_bodies": lms,
        "lms_n": len(lms),
        "kakao_bodies": kakao,
        "kakao_n": len(kakao),
    }


def _delivery_words(organization: int, after: int) -> dict[str, int | str | list[str]]:
    return {
        "organization": organization,
        "after": after,
        "demo_number": DEMO_NUMBER,
        "request_failed": REQUEST_FAILED,
        "names": NAMES,
        "names_n": len(NAMES),
        "kakao_codes": list(KAKAO_FAILURE_TEXT),
        "kakao_texts": list(KAKAO_FAILURE_TEXT.values()),
        "kakao_c": len(KAKAO_FAILURE_TEXT),
        "carrier_codes": list(CARRIER_FAILURE_TEXT),
        "carrier_texts": list(CARRIER_FAILURE_TEXT.values()),
        "carrier_c": len(CARRIER_FAILURE_TEXT),
    }
