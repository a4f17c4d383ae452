"""Seeds PostgreSQL with the scale data set: ~10M deliveries in 1M sends over 13 months.

Five organizations, the first holding 80% of the rows, plus one 10,000-recipient campaign
for the detail page. The rows are generated inside PostgreSQL (INSERT … SELECT over
generate_series), a few minutes for the whole set where the Python demo generator would
take over twenty. Every send's counts and points add up to its deliveries, as the ingest
API keeps them. Idempotent: an organization that already holds its sends is left alone.
"""

from __future__ import annotations

import random
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from ...demo import (
    CARRIER_FAILURE_TEXT,
    DEMO_NUMBER,
    KAKAO_BODIES,
    KAKAO_FAILURE_TEXT,
    LMS_BODIES,
    MANAGER,
    NAMES,
    SMS_BODIES,
    ensure_demo_accounts,
)
from ...models import Membership, Organization, SenderProfile, SendRequest

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
# the r_* columns are its dice. Counts are drawn so they add up by construction.
SENDS_SQL = """
WITH dice AS MATERIALIZED (
    SELECT g, random() AS r_time, random() AS r_hour, random() AS r_channel,
           random() AS r_size, random() AS r_size2, random() AS r_status, random() AS r_fail,
           random() AS r_round, random() AS r_body, random() AS r_sender, random() AS r_source,
           random() AS r_fallback
    FROM generate_series(%(first)s, %(last)s) AS g
), shaped AS (
    SELECT d.*,
        least(
            (date_trunc('day', (now() - interval '395 days' * (1 - (g - 1 + r_time) / %(n)s))
                AT TIME ZONE 'Asia/Seoul') + interval '9 hours' + interval '10 hours' * r_hour)
                AT TIME ZONE 'Asia/Seoul',
            now() - interval '5 minutes'
        ) AS at,
        CASE WHEN r_channel < 0.35 THEN 'sms' WHEN r_channel < 0.55 THEN 'lms'
             WHEN r_channel < 0.60 THEN 'mms' WHEN r_channel < 0.90 THEN 'alimtalk'
             ELSE 'friendtalk' END AS channel,
        CASE WHEN r_size < 0.30 THEN 1
             WHEN r_size < 0.99 THEN 2 + floor(r_size2 * 21)::int
             ELSE 100 + floor(r_size2 * 101)::int END AS recipients
    FROM dice d
), decided AS (
    SELECT s.*,
        CASE WHEN r_status < 0.015 THEN 'failed'
             WHEN r_status < 0.030 THEN 'cancelled'
             WHEN r_status < 0.060 AND at > now() - interval '3 days' THEN 'in_progress'
             ELSE 'completed' END AS status,
        channel IN ('alimtalk', 'friendtalk') AS kakao,
        CASE channel WHEN 'sms' THEN 9 WHEN 'lms' THEN 30 WHEN 'mms' THEN 60
                     WHEN 'alimtalk' THEN 7 ELSE 15 END AS price
    FROM shaped s
), counted AS (
    SELECT d.*,
        CASE WHEN kakao THEN (%(kakao_bodies)s::text[])[1 + floor(r_body * %(kakao_n)s)::int]
             WHEN channel = 'sms' THEN (%(sms_bodies)s::text[])[1 + floor(r_body * %(sms_n)s)::int]
             ELSE (%(lms_bodies)s::text[])[1 + floor(r_body * %(lms_n)s)::int] END AS body,
        CASE WHEN status IN ('failed', 'cancelled') THEN recipients
             WHEN status = 'in_progress' THEN 0
             ELSE least(recipients, floor(recipients * 0.2 * r_fail + r_round)::int)
             END AS failures,
        CASE WHEN status = 'in_progress' THEN ceil(recipients * 0.4)::int ELSE 0 END AS waiting
    FROM decided d
), fallen AS (
    SELECT c.*, recipients - failures - waiting AS successes,
        kakao AND r_fallback < 0.6 AS fallback,
        CASE WHEN kakao AND r_fallback < 0.6
             THEN floor((recipients - failures - waiting) * 0.05 + r_round)::int
             ELSE 0 END AS by_text,
        CASE WHEN char_length(body) > 90 THEN 30 ELSE 9 END AS text_price
    FROM counted c
)
INSERT INTO sendon_results_sendrequest (
    organization_id, external_id, requested_at, source, channel, sender_id, title, body,
    scheduled_at, fallback, status, failure_reason, points_charged, points_refunded,
    recipient_count, success_count, failure_count, sending_count, content_hash,
    created_at, updated_at)
SELECT %(organization)s, 'scale-' || %(organization)s || '-' || lpad(g::text, 8, '0'), at,
    CASE WHEN r_source < 0.6 THEN 'api' ELSE 'web' END, channel,
    CASE WHEN kakao THEN (%(kakao_senders)s::bigint[])[1 + floor(r_sender * %(kakao_s)s)::int]
         ELSE (%(phone_senders)s::bigint[])[1 + floor(r_sender * %(phone_s)s)::int] END,
    CASE WHEN channel IN ('lms', 'mms') THEN split_part(body, E'\n', 1) ELSE '' END,
    body,
    CASE WHEN status = 'cancelled' THEN at + interval '1 day' END,
    fallback, status,
    CASE WHEN status = 'failed' THEN '대체문자 발송 포인트가 부족합니다.' ELSE '' END,
    price * (recipients - by_text) + text_price * by_text, price * failures,
    recipients, successes, failures, waiting, '', now(), now()
FROM fallen
ORDER BY at
"""

# The recipients of the sends just inserted: the first `success_count - by_text` succeed
# on the send's channel, the next `by_text` by the fallback text, then the failures, then
# the ones still waiting. The other columns vary with the row number.
DELIVERIES_SQL = """
INSERT INTO sendon_results_delivery (
    send_request_id, organization_id, external_id, recipient, recipient_name, status,
    result_code, result_message, final_channel, carrier, sent_at, completed_at,
    points_charged, points_refunded)
SELECT s.id, s.organization_id, s.external_id || '-' || lpad(i::text, 5, '0'),
    CASE WHEN i = 1 AND s.id %% 17 = 0 THEN %(demo_number)s
         ELSE '010' || lpad(floor(random() * 1e8)::bigint::text, 8, '0') END,
    CASE WHEN (s.id + i) %% 2 = 0 THEN (%(names)s::text[])[1 + (s.id + i) %% %(names_n)s]
         ELSE '' END,
    CASE WHEN i <= s.success_count THEN 'success'
         WHEN i <= s.success_count + s.failure_count THEN 'failure' ELSE 'sending' END,
    CASE WHEN i <= s.success_count - t.by_text THEN
              CASE WHEN t.kakao THEN '0000' ELSE '1000' END
         WHEN i <= s.success_count THEN '1000'
         WHEN i <= s.success_count + s.failure_count THEN
              CASE WHEN s.status IN ('failed', 'cancelled') THEN ''
                   WHEN t.kakao THEN (%(kakao_codes)s::text[])[1 + (s.id * 7 + i) %% %(kakao_c)s]
                   ELSE (%(carrier_codes)s::text[])[1 + (s.id * 7 + i) %% %(carrier_c)s] END
         WHEN t.kakao THEN '3005' ELSE '' END,
    CASE WHEN i <= s.success_count - t.by_text THEN '성공'
         WHEN i <= s.success_count THEN '성공(대체문자)'
         WHEN i <= s.success_count + s.failure_count THEN
              CASE WHEN s.status = 'failed' THEN '요청 실패'
                   WHEN s.status = 'cancelled' THEN '예약 취소'
                   WHEN t.kakao THEN (%(kakao_texts)s::text[])[1 + (s.id * 7 + i) %% %(kakao_c)s]
                   ELSE (%(carrier_texts)s::text[])[1 + (s.id * 7 + i) %% %(carrier_c)s] END
         WHEN t.kakao THEN '수신 확인 대기' ELSE '' END,
    CASE WHEN i > s.success_count - t.by_text AND i <= s.success_count
         THEN t.text_channel ELSE s.channel END,
    (ARRAY['SKT', 'KT', 'LG U+'])[1 + (s.id + i) %% 3],
    CASE WHEN i <= s.success_count + s.failure_count AND s.status NOT IN ('failed', 'cancelled')
         THEN s.requested_at + make_interval(secs => 1 + (s.id + i) %% 29) END,
    CASE WHEN i <= s.success_count + s.failure_count
         THEN s.requested_at + make_interval(secs => 30 + (s.id * 3 + i) %% 600) END,
    CASE WHEN i > s.success_count - t.by_text AND i <= s.success_count
         THEN t.text_price ELSE t.price END,
    CASE WHEN i > s.success_count AND i <= s.success_count + s.failure_count
         THEN t.price ELSE 0 END
FROM sendon_results_sendrequest s
CROSS JOIN LATERAL (
    SELECT s.channel IN ('alimtalk', 'friendtalk') AS kakao,
        CASE s.channel WHEN 'sms' THEN 9 WHEN 'lms' THEN 30 WHEN 'mms' THEN 60
                       WHEN 'alimtalk' THEN 7 ELSE 15 END AS price,
        CASE WHEN char_length(s.body) > 90 THEN 'lms' ELSE 'sms' END AS text_channel,
        CASE WHEN char_length(s.body) > 90 THEN 30 ELSE 9 END AS text_price
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
        for name, brand, share in SHARES:
            organization = self._organization(name)
            target = round(sends * share)
            have = SendRequest.objects.filter(organization=organization).count()
            if have >= target:
                self.stdout.write(f"{name}: {have:,} sends already")
                continue
            self._seed(organization, brand, target)
        self._campaign()
        self.stdout.write("VACUUM ANALYZE …")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE sendon_results_sendrequest")
            cursor.execute("VACUUM ANALYZE sendon_results_delivery")
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
        Membership.objects.get_or_create(user=manager, organization=organization)
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


def _bodies(brand: str) -> dict[str, object]:
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


def _delivery_words(organization: int, after: int) -> dict[str, object]:
    return {
        "organization": organization,
        "after": after,
        "demo_number": DEMO_NUMBER,
        "names": NAMES,
        "names_n": len(NAMES),
        "kakao_codes": list(KAKAO_FAILURE_TEXT),
        "kakao_texts": list(KAKAO_FAILURE_TEXT.values()),
        "kakao_c": len(KAKAO_FAILURE_TEXT),
        "carrier_codes": list(CARRIER_FAILURE_TEXT),
        "carrier_texts": list(CARRIER_FAILURE_TEXT.values()),
        "carrier_c": len(CARRIER_FAILURE_TEXT),
    }
