-- =============================================================================
-- Lumiku demo data
--
-- Loaded into the demo database after the first 18 migrations (up to and
-- including 20251010120000_add_pose_generation_progress), i.e. the state of
-- production just before the 2025-10-16 deployment: the Avatar Creator /
-- Pose Generator migrations and the three index migrations are still pending.
--
-- Deterministic: all "random" values are derived from md5() of fixed keys.
-- Only columns that exist after migration 18 are referenced.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- users (200)
-- -----------------------------------------------------------------------------
INSERT INTO "users" ("id", "email", "password", "name", "role", "createdAt", "updatedAt",
                     "avatarUrl", "emailVerifiedAt", "lastLoginAt", "phone",
                     "accountType", "subscriptionTier", "storageQuota", "storageUsed")
SELECT
    'cm' || substr(md5('lumiku-user-' || g), 1, 23),
    lower(fn) || '.' || lower(ln) || CASE WHEN g > 22 THEN g::text ELSE '' END || '@' ||
        (ARRAY['gmail.com', 'gmail.com', 'gmail.com', 'yahoo.co.id', 'outlook.com', 'icloud.com'])[1 + g % 6],
    '$2a$10$' || substr(md5('pw-' || g), 1, 22) || substr(md5('pw2-' || g), 1, 31),
    fn || ' ' || ln,
    CASE WHEN g IN (1, 2) THEN 'admin' ELSE 'user' END,
    ts,
    ts + interval '1 hour' * (h % 900),
    CASE WHEN h % 3 = 0 THEN '/uploads/avatars/' || substr(md5('av-' || g), 1, 16) || '.jpg' END,
    CASE WHEN h % 10 < 8 THEN ts + interval '1 minute' * (5 + h % 120) END,
    LEAST(ts + interval '1 hour' * (h % 3000), timestamp '2025-10-15 22:41:09'),
    CASE WHEN h % 4 <> 0 THEN '+628' || (1100000000 + (h * 37) % 899999999)::text END,
    (CASE WHEN g % 5 = 0 THEN 'subscription' ELSE 'payg' END)::"AccountType",
    CASE WHEN g % 5 <> 0 THEN 'free'
         WHEN g % 20 = 0 THEN 'enterprise'
         WHEN g % 10 = 0 THEN 'pro'
         ELSE 'basic' END,
    CASE WHEN g % 5 = 0 THEN 5368709120 ELSE 524288000 END,
    (h % 480) * 1048576::bigint + (h % 997) * 1024
FROM (
    SELECT g,
           (ARRAY['Andi', 'Budi', 'Citra', 'Dewi', 'Eko', 'Fitri', 'Gilang', 'Hana', 'Indra', 'Joko', 'Kartika',
                  'Lestari', 'Made', 'Nadia', 'Oka', 'Putri', 'Rizky', 'Sari', 'Tono', 'Wulan', 'Yusuf', 'Zahra'])[1 + (g - 1) % 22] AS fn,
           (ARRAY['Pratama', 'Santoso', 'Wijaya', 'Saputra', 'Lestari', 'Hidayat', 'Kusuma', 'Nugroho', 'Rahmawati',
                  'Setiawan', 'Siregar', 'Halim', 'Gunawan'])[1 + (g * 7) % 13] AS ln,
           timestamp '2025-05-12 09:30:00' + interval '17 hours' * (g - 1)
               + interval '1 second' * (('x' || substr(md5('u-ts-' || g), 1, 6))::bit(24)::int % 50000) AS ts,
           ('x' || substr(md5('u-h-' || g), 1, 6))::bit(24)::int AS h
    FROM generate_series(1, 200) AS g
) s;

-- -----------------------------------------------------------------------------
-- sessions (320) and devices (260)
-- -----------------------------------------------------------------------------
INSERT INTO "sessions" ("id", "userId", "token", "expiresAt", "createdAt", "ipAddress", "userAgent")
SELECT
    'cm' || substr(md5('session-' || g), 1, 23),
    u."id",
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.' || md5('tok-a-' || g) || md5('tok-b-' || g) || '.' || substr(md5('tok-c-' || g), 1, 27),
    c.ts + interval '7 days',
    c.ts,
    '36.' || (64 + h % 60) || '.' || (h / 256 % 256) || '.' || (h % 254 + 1),
    (ARRAY['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36',
           'Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1',
           'Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Mobile Safari/537.36',
           'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15'])[1 + h % 4]
FROM generate_series(1, 320) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('s-h-' || g), 1, 6))::bit(24)::int AS h) x
JOIN (SELECT "id", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "users") u
  ON u.rn = 1 + (g * 53) % 200
CROSS JOIN LATERAL (SELECT u."createdAt" + (timestamp '2025-10-15 22:00:00' - u."createdAt") * (0.55 + (x.h % 4500) / 10000.0) AS ts) c;

INSERT INTO "devices" ("id", "userId", "deviceId", "deviceName", "deviceType", "browser", "os", "lastActive", "createdAt")
SELECT
    'cm' || substr(md5('device-' || g), 1, 23),
    u."id",
    md5('fingerprint-' || g),
    (ARRAY['Chrome on Windows', 'Safari on iPhone', 'Chrome on Android', 'Safari on Mac'])[1 + h % 4],
    (ARRAY['desktop', 'mobile', 'mobile', 'desktop'])[1 + h % 4],
    (ARRAY['Chrome', 'Safari', 'Chrome', 'Safari'])[1 + h % 4],
    (ARRAY['Windows 10', 'iOS 17.6', 'Android 14', 'macOS 14.6'])[1 + h % 4],
    u."createdAt" + (timestamp '2025-10-15 22:00:00' - u."createdAt") * (0.6 + (h % 4000) / 10000.0),
    u."createdAt" + interval '1 minute' * (h % 600)
FROM generate_series(1, 260) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('d-h-' || g), 1, 6))::bit(24)::int AS h) x
JOIN (SELECT "id", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "users") u
  ON u.rn = 1 + (g - 1) % 200;

-- -----------------------------------------------------------------------------
-- apps (7) and ai_models (10)
-- -----------------------------------------------------------------------------
INSERT INTO "apps" ("id", "appId", "name", "description", "icon", "enabled", "beta", "comingSoon",
                    "creditCost", "order", "totalUsage", "createdAt", "updatedAt")
VALUES
    ('cmapp0videomixer00000001', 'video-mixer', 'Video Mixer', 'Mix short clips into hundreds of unique videos', 'video', true, false, false, 1, 1, 0, '2025-05-19 14:20:00', '2025-10-01 09:00:00'),
    ('cmapp0carouselmix0000002', 'carousel-mix', 'Carousel Mix', 'Generate carousel post variations from slides and captions', 'layers', true, false, false, 1, 2, 0, '2025-05-19 14:20:00', '2025-10-01 09:00:00'),
    ('cmapp0loopingflow0000003', 'looping-flow', 'Looping Flow', 'Turn a short clip into a seamless long loop', 'repeat', true, true, false, 2, 3, 0, '2025-07-29 10:15:00', '2025-10-01 09:00:00'),
    ('cmapp0bgremover000000004', 'background-remover', 'Background Remover', 'Remove image backgrounds in batches', 'scissors', true, false, false, 3, 4, 0, '2025-08-19 11:32:00', '2025-10-01 09:00:00'),
    ('cmapp0avatargen000000005', 'avatar-generator', 'Avatar Generator', 'Create AI model avatars for product photos', 'user-circle', true, true, false, 10, 5, 0, '2025-08-26 14:24:00', '2025-10-01 09:00:00'),
    ('cmapp0posegen00000000006', 'pose-generator', 'Pose Generator', 'Generate your avatar in hundreds of poses', 'move', true, true, false, 30, 6, 0, '2025-09-02 10:00:00', '2025-10-01 09:00:00'),
    ('cmapp0videogen0000000007', 'video-generator', 'Video Generator', 'Text and image to video with multiple AI models', 'film', true, true, false, 50, 7, 0, '2025-08-05 09:05:00', '2025-10-01 09:00:00');

INSERT INTO "ai_models" ("id", "appId", "modelId", "modelKey", "name", "description", "provider", "tier",
                         "creditCost", "creditPerSecond", "quotaCost", "capabilities", "enabled", "beta", "createdAt", "updatedAt")
VALUES
    ('cmaimodel0000000000000001', 'video-generator', 'wan2.2-t2v-free', 'video-generator:wan2.2-t2v-free', 'Wan 2.2 T2V (Free)', 'Text-to-video, 720p, up to 5s', 'modelslab', 'free', 5, NULL, 1, '{"maxDuration": 5, "resolution": "720p"}', true, false, '2025-08-05 09:05:00', '2025-09-20 12:00:00'),
    ('cmaimodel0000000000000002', 'video-generator', 'veo2', 'video-generator:veo2', 'Google Veo 2', 'High quality text/image-to-video', 'edenai', 'basic', 10, 2.0, 1, '{"maxDuration": 8, "resolution": "1080p"}', true, false, '2025-08-05 09:05:00', '2025-09-20 12:00:00'),
    ('cmaimodel0000000000000003', 'video-generator', 'kling-2.5', 'video-generator:kling-2.5', 'Kling 2.5 Pro', 'Cinematic motion', 'edenai', 'pro', 20, 3.0, 2, '{"maxDuration": 10, "resolution": "1080p"}', true, true, '2025-08-05 09:05:00', '2025-09-20 12:00:00'),
    ('cmaimodel0000000000000004', 'video-generator', 'veo3', 'video-generator:veo3', 'Google Veo 3', 'Video with native audio', 'edenai', 'enterprise', 50, 5.0, 3, '{"maxDuration": 8, "audio": true}', true, true, '2025-08-05 09:05:00', '2025-09-20 12:00:00'),
    ('cmaimodel0000000000000005', 'background-remover', 'rmbg-1.4', 'background-remover:rmbg-1.4', 'RMBG 1.4', 'Fast background removal', 'huggingface', 'free', 3, NULL, 1, '{"maxResolution": 2048}', true, false, '2025-08-19 11:32:00', '2025-09-20 12:00:00'),
    ('cmaimodel0000000000000006', 'background-remover', 'birefnet', 'background-remover:birefnet', 'BiRefNet HD', 'Hair-level detail', 'segmind', 'pro', 8, NULL, 2, '{"maxResolution": 4096}', true, false, '2025-08-19 11:32:00', '2025-09-20 12:00:00'),
    ('cmaimodel0000000000000007', 'avatar-generator', 'flux-dev', 'avatar-generator:flux-dev', 'FLUX.1 dev', 'Portrait avatars', 'huggingface', 'free', 10, NULL, 1, '{"controlnet": false}', true, false, '2025-08-26 14:24:00', '2025-09-20 12:00:00'),
    ('cmaimodel0000000000000008', 'avatar-generator', 'flux-realism', 'avatar-generator:flux-realism', 'FLUX.1 Realism LoRA', 'Photorealistic avatars', 'huggingface', 'basic', 15, NULL, 1, '{"controlnet": true}', true, true, '2025-08-26 14:24:00', '2025-09-20 12:00:00'),
    ('cmaimodel0000000000000009', 'pose-generator', 'flux-controlnet-pose', 'pose-generator:flux-controlnet-pose', 'FLUX ControlNet OpenPose', 'Pose-conditioned generation', 'huggingface', 'basic', 30, NULL, 2, '{"controlnet": "openpose"}', true, true, '2025-09-02 10:00:00', '2025-09-20 12:00:00'),
    ('cmaimodel0000000000000010', 'looping-flow', 'ffmpeg-crossfade', 'looping-flow:ffmpeg-crossfade', 'Crossfade Loop', 'FFmpeg crossfade looping', 'local', 'free', 2, NULL, 1, NULL, true, false, '2025-07-29 10:15:00', '2025-09-20 12:00:00');

-- -----------------------------------------------------------------------------
-- subscription_plans (4), subscriptions (40), quota_usages (400)
-- -----------------------------------------------------------------------------
INSERT INTO "subscription_plans" ("id", "planId", "tier", "name", "description", "price", "billingCycle",
                                  "dailyGenerationLimit", "monthlyGenerationLimit", "maxConcurrentGenerations",
                                  "allowedModelTiers", "features", "isActive", "displayOrder", "createdAt", "updatedAt")
VALUES
    ('cmplan00000000000000basic', 'basic-monthly', 'basic', 'Basic', 'For solo sellers', 99000, 'monthly', 50, 1500, 1, ARRAY['free', 'basic'], '{"priority": false, "watermark": false}', true, 1, '2025-08-05 09:05:00', '2025-08-05 09:05:00'),
    ('cmplan0000000000000000pro', 'pro-monthly', 'pro', 'Pro', 'For growing brands', 249000, 'monthly', 150, 4500, 3, ARRAY['free', 'basic', 'pro'], '{"priority": true, "watermark": false}', true, 2, '2025-08-05 09:05:00', '2025-08-05 09:05:00'),
    ('cmplan000000000000proyear', 'pro-yearly', 'pro', 'Pro (Yearly)', 'Pro, billed yearly', 2490000, 'yearly', 150, 4500, 3, ARRAY['free', 'basic', 'pro'], '{"priority": true, "watermark": false}', true, 3, '2025-08-05 09:05:00', '2025-08-05 09:05:00'),
    ('cmplan000000000enterprise', 'enterprise-monthly', 'enterprise', 'Enterprise', 'For agencies', 999000, 'monthly', 500, 15000, 10, ARRAY['free', 'basic', 'pro', 'enterprise'], '{"priority": true, "watermark": false, "api": true}', true, 4, '2025-08-05 09:05:00', '2025-08-05 09:05:00');

INSERT INTO "subscriptions" ("id", "userId", "planId", "status", "startDate", "endDate", "billingCycle", "autoRenew",
                             "lastPaymentId", "nextBillingDate", "gracePeriodEnd", "cancelledAt", "cancelReason",
                             "createdAt", "updatedAt")
SELECT
    'cm' || substr(md5('subscription-' || u."id"), 1, 23),
    u."id",
    p.plan,
    p.st::"SubscriptionStatus",
    p.start_ts,
    p.start_ts + CASE WHEN p.plan = 'pro-yearly' THEN interval '1 year' ELSE interval '1 month' END,
    (CASE WHEN p.plan = 'pro-yearly' THEN 'yearly' ELSE 'monthly' END)::"BillingCycle",
    p.st = 'ACTIVE',
    NULL,
    CASE WHEN p.st = 'ACTIVE' THEN p.start_ts + CASE WHEN p.plan = 'pro-yearly' THEN interval '1 year' ELSE interval '1 month' END END,
    CASE WHEN p.st = 'GRACE_PERIOD' THEN p.start_ts + interval '1 month 3 days' END,
    CASE WHEN p.st = 'CANCELLED' THEN p.start_ts + interval '12 days' END,
    CASE WHEN p.st = 'CANCELLED' THEN 'Too expensive for now' END,
    p.start_ts,
    p.start_ts + interval '2 days'
FROM (SELECT "id", "createdAt", "subscriptionTier", row_number() OVER (ORDER BY "createdAt", "id") AS rn
      FROM "users" WHERE "accountType" = 'subscription') u
CROSS JOIN LATERAL (
    SELECT CASE u."subscriptionTier" WHEN 'basic' THEN 'basic-monthly'
                                     WHEN 'enterprise' THEN 'enterprise-monthly'
                                     ELSE CASE WHEN u.rn % 3 = 0 THEN 'pro-yearly' ELSE 'pro-monthly' END END AS plan,
           CASE WHEN u.rn % 13 = 0 THEN 'CANCELLED' WHEN u.rn % 11 = 0 THEN 'GRACE_PERIOD' ELSE 'ACTIVE' END AS st,
           GREATEST(u."createdAt" + interval '1 day', timestamp '2025-09-16 10:00:00' + interval '13 hours' * u.rn) AS start_ts
) p;

INSERT INTO "quota_usages" ("id", "userId", "period", "quotaType", "usageCount", "quotaLimit", "resetAt",
                            "modelBreakdown", "createdAt", "updatedAt")
SELECT
    'cm' || substr(md5('quota-' || s."userId" || '-' || d), 1, 23),
    s."userId",
    to_char(day, 'YYYY-MM-DD'),
    'daily',
    h % (sp."dailyGenerationLimit" / 2 + 1),
    sp."dailyGenerationLimit",
    day + interval '1 day',
    jsonb_build_object('video-generator:wan2.2-t2v-free', h % 7, 'video-generator:veo2', h % 4),
    day + interval '7 hours' + interval '1 minute' * (h % 600),
    day + interval '20 hours' + interval '1 minute' * (h % 200)
FROM "subscriptions" s
JOIN "subscription_plans" sp ON sp."planId" = s."planId"
CROSS JOIN generate_series(0, 9) AS d
CROSS JOIN LATERAL (SELECT timestamp '2025-10-06 00:00:00' + interval '1 day' * d AS day,
                           ('x' || substr(md5('q-' || s."userId" || d), 1, 6))::bit(24)::int AS h) x;

-- -----------------------------------------------------------------------------
-- payments (420)
-- -----------------------------------------------------------------------------
INSERT INTO "payments" ("id", "userId", "merchantOrderId", "reference", "amount", "creditAmount", "status",
                        "paymentMethod", "paymentUrl", "duitkuData", "createdAt", "updatedAt", "expiredAt", "paidAt")
SELECT
    'cm' || substr(md5('payment-' || g), 1, 23),
    u."id",
    'LMK-' || to_char(c.ts, 'YYYYMMDD') || '-' || lpad(g::text, 5, '0'),
    CASE WHEN st <> 'FAILED' THEN 'DS' || upper(substr(md5('ref-' || g), 1, 14)) END,
    pkg.amount,
    pkg.credits,
    st,
    (ARRAY['VA', 'BC', 'M2', 'OV', 'SP', 'DA', 'QR'])[1 + x.h % 7],
    'https://app-sandbox.duitku.com/redirect_checkout?reference=DS' || upper(substr(md5('ref-' || g), 1, 14)),
    CASE WHEN st = 'SUCCESS' THEN jsonb_build_object('resultCode', '00', 'statusMessage', 'SUCCESS',
                                                     'publisherOrderId', 'DS' || upper(substr(md5('ref-' || g), 1, 14)),
                                                     'settlementDate', to_char(c.ts + interval '1 day', 'YYYY-MM-DD')) END,
    c.ts,
    c.ts + interval '1 minute' * (2 + x.h % 40),
    CASE WHEN c.ts >= timestamp '2025-09-30 09:33:27' THEN c.ts + interval '24 hours' END,
    CASE WHEN st = 'SUCCESS' THEN c.ts + interval '1 minute' * (2 + x.h % 40) END
FROM generate_series(1, 420) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('p-h-' || g), 1, 6))::bit(24)::int AS h) x
CROSS JOIN LATERAL (SELECT CASE WHEN x.h % 100 < 76 THEN 'SUCCESS' WHEN x.h % 100 < 86 THEN 'EXPIRED'
                                WHEN x.h % 100 < 95 THEN 'FAILED' ELSE 'PENDING' END AS st) s
CROSS JOIN LATERAL (SELECT (ARRAY[10000, 25000, 50000, 100000, 250000])[1 + (x.h / 7) % 5] AS amount,
                           (ARRAY[100, 275, 600, 1300, 3500])[1 + (x.h / 7) % 5] AS credits) pkg
JOIN (SELECT "id", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "users") u
  ON u.rn = 1 + floor(power((x.h % 10007) / 10007.0, 1.6) * 200)::int
CROSS JOIN LATERAL (SELECT u."createdAt" + (timestamp '2025-10-15 21:00:00' - u."createdAt") * ((x.h / 13 % 1000) / 1000.0) AS ts) c;

-- -----------------------------------------------------------------------------
-- credits ledger (~5,000): welcome bonus, purchases, usage
-- -----------------------------------------------------------------------------
INSERT INTO "credits" ("id", "userId", "amount", "balance", "type", "description", "referenceId",
                       "referenceType", "paymentId", "createdAt", "expiresAt")
SELECT
    e.id, e."userId", e.amount,
    SUM(e.amount) OVER (PARTITION BY e."userId" ORDER BY e."createdAt", e.id),
    e.type, e.description, e."referenceId", e."referenceType", e."paymentId", e."createdAt", e."expiresAt"
FROM (
    -- welcome bonus
    SELECT 'cm' || substr(md5('credit-bonus-' || u."id"), 1, 23) AS id,
           u."id" AS "userId", 100 AS amount, 'bonus' AS type, 'Welcome bonus' AS description,
           NULL::text AS "referenceId", NULL::text AS "referenceType", NULL::text AS "paymentId",
           u."createdAt" + interval '2 seconds' AS "createdAt",
           NULL::timestamp AS "expiresAt"
    FROM "users" u
    UNION ALL
    -- top-ups
    SELECT 'cm' || substr(md5('credit-purchase-' || p."id"), 1, 23),
           p."userId", p."creditAmount", 'purchase', 'Top up ' || p."creditAmount" || ' credits',
           p."merchantOrderId", 'payment', p."id",
           p."paidAt",
           CASE WHEN p."paidAt" >= timestamp '2025-09-30 09:33:27' THEN p."paidAt" + interval '1 year' END
    FROM "payments" p
    WHERE p."status" = 'SUCCESS'
    UNION ALL
    -- usage
    SELECT 'cm' || substr(md5('credit-usage-' || g), 1, 23),
           u."id", -a.cost, 'usage', a.label, 'cm' || substr(md5('ref-usage-' || g), 1, 23), 'generation', NULL,
           u."createdAt" + (timestamp '2025-10-15 22:00:00' - u."createdAt") * (0.02 + (x.h % 9800) / 10000.0),
           NULL
    FROM generate_series(1, 4500) AS g
    CROSS JOIN LATERAL (SELECT ('x' || substr(md5('c-h-' || g), 1, 6))::bit(24)::int AS h) x
    CROSS JOIN LATERAL (
        SELECT (ARRAY['Video Mixer generation', 'Carousel Mix generation', 'Looping Flow generation',
                      'Background removal', 'Avatar generation', 'Video Mixer generation', 'Carousel Mix generation'])[1 + x.h % 7] AS label,
               (ARRAY[1, 1, 2, 3, 4, 2, 1])[1 + x.h % 7] AS cost
    ) a
    JOIN (SELECT "id", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "users") u
      ON u.rn = 1 + (g * 29) % 200
) e;

-- -----------------------------------------------------------------------------
-- app_usages (3,000)
-- -----------------------------------------------------------------------------
INSERT INTO "app_usages" ("id", "userId", "appId", "action", "creditUsed", "metadata", "createdAt")
SELECT
    'cm' || substr(md5('app-usage-' || g), 1, 23),
    u."id",
    a.app,
    a.action,
    a.cost,
    jsonb_build_object('source', 'web', 'durationMs', 800 + x.h % 90000),
    GREATEST(u."createdAt", a.since) + (timestamp '2025-10-15 22:00:00' - GREATEST(u."createdAt", a.since)) * ((x.h % 10000) / 10000.0)
FROM generate_series(1, 3000) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('au-h-' || g), 1, 6))::bit(24)::int AS h) x
CROSS JOIN LATERAL (
    SELECT (ARRAY['video-mixer', 'carousel-mix', 'looping-flow', 'background-remover', 'avatar-generator', 'pose-generator', 'video-mixer'])[1 + x.h % 7] AS app,
           (ARRAY['generate_videos', 'generate_carousel', 'generate_loop', 'remove_background', 'generate_avatar', 'generate_poses', 'generate_videos'])[1 + x.h % 7] AS action,
           (ARRAY[5, 4, 6, 3, 10, 30, 8])[1 + x.h % 7] AS cost,
           (ARRAY[timestamp '2025-05-20', '2025-05-20', '2025-07-30', '2025-08-20', '2025-08-27', '2025-09-03', '2025-05-20'])[1 + x.h % 7] AS since
) a
JOIN (SELECT "id", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "users") u
  ON u.rn = 1 + floor(power(((x.h / 7) % 10007) / 10007.0, 1.4) * 200)::int;

UPDATE "apps" a SET "totalUsage" = c.n
FROM (SELECT "appId", count(*) AS n FROM "app_usages" GROUP BY "appId") c
WHERE c."appId" = a."appId";

-- -----------------------------------------------------------------------------
-- projects (300) and generations (2,000)
-- -----------------------------------------------------------------------------
INSERT INTO "projects" ("id", "userId", "appId", "name", "description", "createdAt", "updatedAt")
SELECT
    'cm' || substr(md5('project-' || g), 1, 23),
    u."id",
    a.app,
    a.prefix || ' ' || (ARRAY['Ramadan Sale', 'Hijab Collection', 'Skincare Launch', 'Kopi Susu Promo', 'Sepatu Lokal',
                              'Batik Modern', 'Gadget Review', 'Flash Sale 10.10', 'Payday Promo', 'Brand Awareness'])[1 + (x.h / 11) % 10],
    CASE WHEN x.h % 3 = 0 THEN 'Content for TikTok and Instagram Reels' END,
    c.ts,
    c.ts + interval '1 hour' * (x.h % 200)
FROM generate_series(1, 300) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('pr-h-' || g), 1, 6))::bit(24)::int AS h) x
CROSS JOIN LATERAL (
    SELECT (ARRAY['video-mixer', 'carousel-mix', 'looping-flow', 'background-remover', 'video-generator'])[1 + x.h % 5] AS app,
           (ARRAY['VM', 'Carousel', 'Loop', 'Product Photos', 'AI Video'])[1 + x.h % 5] AS prefix,
           (ARRAY[timestamp '2025-06-03 12:00', '2025-06-03 12:00', '2025-07-30', '2025-08-20', '2025-08-06'])[1 + x.h % 5] AS since
) a
JOIN (SELECT "id", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "users") u
  ON u.rn = 1 + floor(power(((x.h / 3) % 10007) / 10007.0, 1.3) * 200)::int
CROSS JOIN LATERAL (SELECT GREATEST(u."createdAt", a.since)
                           + (timestamp '2025-10-14 18:00:00' - GREATEST(u."createdAt", a.since)) * ((x.h % 9000) / 10000.0) AS ts) c;

INSERT INTO "generations" ("id", "userId", "projectId", "appId", "type", "status", "prompt", "settings", "outputPath",
                           "creditUsed", "errorMessage", "createdAt", "completedAt", "fileSize", "metadata", "thumbnailUrl")
SELECT
    'cm' || substr(md5('generation-' || g), 1, 23),
    p."userId",
    p."id",
    p."appId",
    t.type,
    s.st::"GenerationStatus",
    CASE WHEN p."appId" = 'video-generator' THEN
        (ARRAY['Product shot of a glass skincare bottle on a marble table, slow dolly in',
               'Woman in a pastel hijab walking through a market, golden hour',
               'Iced coffee being poured, macro, cinematic lighting',
               'Sneakers rotating on a turntable, studio background'])[1 + x.h % 4] END,
    jsonb_build_object('aspectRatio', (ARRAY['9:16', '1:1', '16:9'])[1 + x.h % 3], 'quantity', 1 + x.h % 20),
    CASE WHEN s.st = 'COMPLETED' THEN '/uploads/outputs/' || p."appId" || '/' || substr(md5('out-' || g), 1, 20) || t.ext END,
    t.cost,
    CASE WHEN s.st = 'FAILED' THEN (ARRAY['FFmpeg exited with code 1', 'Provider timeout after 300s', 'Input file is corrupted'])[1 + x.h % 3] END,
    c.ts,
    CASE WHEN s.st IN ('COMPLETED', 'FAILED') THEN c.ts + interval '1 second' * (20 + x.h % 600) END,
    CASE WHEN s.st = 'COMPLETED' AND c.ts >= timestamp '2025-09-09 13:18:10' THEN 200000 + x.h % 40000000 END,
    CASE WHEN c.ts >= timestamp '2025-09-09 13:18:10' THEN jsonb_build_object('worker', 'worker-' || (1 + x.h % 3), 'attempts', 1 + x.h % 2) END,
    CASE WHEN s.st = 'COMPLETED' AND c.ts >= timestamp '2025-09-09 13:18:10' THEN '/uploads/thumbnails/' || substr(md5('thumb-' || g), 1, 20) || '.jpg' END
FROM generate_series(1, 2000) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('g-h-' || g), 1, 6))::bit(24)::int AS h) x
JOIN (SELECT "id", "userId", "appId", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "projects") p
  ON p.rn = 1 + (x.h / 5) % 300
CROSS JOIN LATERAL (SELECT p."createdAt" + (timestamp '2025-10-15 21:50:00' - p."createdAt") * ((x.h % 10000) / 10000.0) AS ts) c
CROSS JOIN LATERAL (
    SELECT CASE WHEN c.ts > timestamp '2025-10-15 21:00:00' THEN (ARRAY['PENDING', 'PROCESSING'])[1 + x.h % 2]
                WHEN x.h % 100 < 88 THEN 'COMPLETED'
                WHEN x.h % 100 < 96 THEN 'FAILED'
                WHEN x.h % 100 < 98 THEN 'CANCELLED'
                ELSE 'PROCESSING' END AS st
) s
CROSS JOIN LATERAL (
    SELECT CASE p."appId" WHEN 'video-mixer' THEN 'video_mix' WHEN 'carousel-mix' THEN 'carousel'
                          WHEN 'looping-flow' THEN 'loop' WHEN 'background-remover' THEN 'background_removal'
                          ELSE 'text_to_video' END AS type,
           CASE p."appId" WHEN 'carousel-mix' THEN '.zip' WHEN 'background-remover' THEN '.png' ELSE '.mp4' END AS ext,
           CASE p."appId" WHEN 'video-mixer' THEN 5 + x.h % 20 WHEN 'carousel-mix' THEN 2 + x.h % 10
                          WHEN 'looping-flow' THEN 6 WHEN 'background-remover' THEN 3 ELSE 10 + 10 * (x.h % 3) END AS cost
) t;

-- -----------------------------------------------------------------------------
-- Video Mixer: 60 projects, 120 groups, 600 videos, 150 generations
-- -----------------------------------------------------------------------------
INSERT INTO "video_mixer_projects" ("id", "userId", "name", "description", "createdAt", "updatedAt")
SELECT 'cm' || substr(md5('vm-project-' || g), 1, 23), u."id",
       (ARRAY['Promo Gamis', 'Unboxing Serum', 'Kuliner Nusantara', 'Review HP', 'Outfit of the Day', 'Sambal Botol'])[1 + g % 6] || ' #' || g,
       NULL,
       GREATEST(u."createdAt", timestamp '2025-07-01 09:00') + interval '1 day' * (x.h % 60),
       GREATEST(u."createdAt", timestamp '2025-07-01 09:00') + interval '1 day' * (x.h % 60) + interval '3 hours'
FROM generate_series(1, 60) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('vmp-h-' || g), 1, 6))::bit(24)::int AS h) x
JOIN (SELECT "id", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "users") u ON u.rn = 1 + (g * 3) % 120;

INSERT INTO "video_mixer_groups" ("id", "projectId", "name", "order", "createdAt", "updatedAt")
SELECT 'cm' || substr(md5('vm-group-' || p."id" || k), 1, 23), p."id",
       (ARRAY['Hook', 'Body'])[k], k - 1, p."createdAt" + interval '5 minutes', p."createdAt" + interval '5 minutes'
FROM "video_mixer_projects" p CROSS JOIN generate_series(1, 2) AS k;

INSERT INTO "video_mixer_videos" ("id", "projectId", "groupId", "fileName", "filePath", "fileSize", "duration", "mimeType", "order", "createdAt")
SELECT 'cm' || substr(md5('vm-video-' || p."id" || k), 1, 23), p."id",
       CASE WHEN k % 5 <> 0 THEN 'cm' || substr(md5('vm-group-' || p."id" || (1 + k % 2)), 1, 23) END,
       'clip_' || lpad(k::text, 2, '0') || '.mp4',
       '/uploads/video-mixer/' || p."id" || '/' || substr(md5('vmf-' || p."id" || k), 1, 16) || '.mp4',
       1500000 + (('x' || substr(md5('vms-' || p."id" || k), 1, 6))::bit(24)::int % 25000000),
       round((2 + (('x' || substr(md5('vmd-' || p."id" || k), 1, 6))::bit(24)::int % 1300) / 100.0)::numeric, 2)::double precision,
       'video/mp4', k, p."createdAt" + interval '1 minute' * (10 + k)
FROM "video_mixer_projects" p CROSS JOIN generate_series(1, 10) AS k;

INSERT INTO "video_mixer_generations" ("id", "projectId", "userId", "totalVideos", "status", "creditUsed",
                                       "enableOrderMixing", "enableDifferentStart", "enableGroupMixing", "groupMixingMode",
                                       "enableSpeedVariations", "speedMin", "speedMax", "videoResolution", "frameRate",
                                       "aspectRatio", "durationType", "fixedDuration", "outputPaths", "errorMessage",
                                       "createdAt", "completedAt")
SELECT 'cm' || substr(md5('vm-gen-' || g), 1, 23), p."id", p."userId", n.total,
       n.st, n.total / 2 + 1,
       true, x.h % 2 = 0, x.h % 3 = 0, CASE WHEN x.h % 2 = 0 THEN 'strict' ELSE 'random' END,
       x.h % 4 = 0, 0.8, 1.25, (ARRAY['720p', '1080p', '480p'])[1 + x.h % 3], 30, '9:16',
       CASE WHEN x.h % 5 = 0 THEN 'fixed' ELSE 'original' END, CASE WHEN x.h % 5 = 0 THEN 15 END,
       CASE WHEN n.st = 'completed' THEN '["/outputs/video-mixer/' || substr(md5('vmo-' || g), 1, 12) || '.zip"]' END,
       CASE WHEN n.st = 'failed' THEN 'FFmpeg exited with code 1' END,
       c.ts, CASE WHEN n.st IN ('completed', 'failed') THEN c.ts + interval '1 second' * (60 + x.h % 900) END
FROM generate_series(1, 150) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('vmg-h-' || g), 1, 6))::bit(24)::int AS h) x
JOIN (SELECT "id", "userId", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "video_mixer_projects") p ON p.rn = 1 + (g * 7) % 60
CROSS JOIN LATERAL (SELECT p."createdAt" + interval '1 hour' + (timestamp '2025-10-15 20:00' - p."createdAt") * ((x.h % 1000) / 1000.0) AS ts) c
CROSS JOIN LATERAL (SELECT (ARRAY[5, 10, 20, 50, 100])[1 + x.h % 5] AS total,
                           CASE WHEN x.h % 100 < 90 THEN 'completed' WHEN x.h % 100 < 97 THEN 'failed' ELSE 'processing' END AS st) n;

-- -----------------------------------------------------------------------------
-- Carousel Mix: 70 projects, 420 slides, 350 texts, 180 generations
-- -----------------------------------------------------------------------------
INSERT INTO "carousel_projects" ("id", "userId", "name", "description", "defaultNumSlides", "createdAt", "updatedAt")
SELECT 'cm' || substr(md5('cr-project-' || g), 1, 23), u."id",
       (ARRAY['Tips Skincare', 'Katalog Baju', 'Resep Mingguan', 'Promo Akhir Bulan', 'Testimoni Pelanggan'])[1 + g % 5] || ' ' || g,
       NULL, 4 + g % 3,
       GREATEST(u."createdAt", timestamp '2025-07-15 14:00') + interval '1 day' * (x.h % 80),
       GREATEST(u."createdAt", timestamp '2025-07-15 14:00') + interval '1 day' * (x.h % 80) + interval '1 hour'
FROM generate_series(1, 70) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('crp-h-' || g), 1, 6))::bit(24)::int AS h) x
JOIN (SELECT "id", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "users") u ON u.rn = 1 + (g * 11) % 150;

INSERT INTO "carousel_slides" ("id", "projectId", "slidePosition", "fileName", "filePath", "fileType", "fileSize", "createdAt")
SELECT 'cm' || substr(md5('cr-slide-' || p."id" || k), 1, 23), p."id", 1 + (k - 1) % 4,
       'slide_' || k || '.jpg', '/uploads/carousel/' || p."id" || '/' || substr(md5('crs-' || p."id" || k), 1, 16) || '.jpg',
       'image/jpeg', 180000 + (('x' || substr(md5('crsz-' || p."id" || k), 1, 6))::bit(24)::int % 2500000),
       p."createdAt" + interval '1 minute' * k
FROM "carousel_projects" p CROSS JOIN generate_series(1, 6) AS k;

INSERT INTO "carousel_texts" ("id", "projectId", "slidePosition", "content", "fontFamily", "fontSize", "fontColor", "position", "alignment", "createdAt")
SELECT 'cm' || substr(md5('cr-text-' || p."id" || k), 1, 23), p."id", k,
       (ARRAY['Diskon 50% hari ini!', 'Gratis ongkir se-Indonesia', '3 langkah kulit glowing', 'Stok terbatas', 'Klik link di bio'])[k],
       (ARRAY['Inter', 'Poppins', 'Montserrat'])[1 + k % 3], 28 + 4 * k, CASE WHEN k % 2 = 0 THEN '#FFFFFF' ELSE '#111827' END,
       (ARRAY['top', 'center', 'bottom'])[1 + k % 3], 'center', p."createdAt" + interval '20 minutes'
FROM "carousel_projects" p CROSS JOIN generate_series(1, 5) AS k;

INSERT INTO "carousel_generations" ("id", "projectId", "userId", "numSlides", "numSetsGenerated", "status", "creditUsed",
                                    "outputPath", "outputPaths", "errorMessage", "createdAt", "completedAt")
SELECT 'cm' || substr(md5('cr-gen-' || g), 1, 23), p."id", p."userId", 4, n.sets, n.st, 2 + n.sets / 5,
       CASE WHEN n.st = 'completed' THEN '/outputs/carousel/' || substr(md5('cro-' || g), 1, 12) || '.zip' END,
       NULL,
       CASE WHEN n.st = 'failed' THEN 'Image processing failed: unsupported format' END,
       c.ts, CASE WHEN n.st IN ('completed', 'failed') THEN c.ts + interval '1 second' * (10 + x.h % 120) END
FROM generate_series(1, 180) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('crg-h-' || g), 1, 6))::bit(24)::int AS h) x
JOIN (SELECT "id", "userId", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "carousel_projects") p ON p.rn = 1 + (g * 13) % 70
CROSS JOIN LATERAL (SELECT p."createdAt" + interval '1 hour' + (timestamp '2025-10-15 20:00' - p."createdAt") * ((x.h % 1000) / 1000.0) AS ts) c
CROSS JOIN LATERAL (SELECT (ARRAY[5, 10, 20, 50])[1 + x.h % 4] AS sets,
                           CASE WHEN x.h % 100 < 93 THEN 'completed' ELSE 'failed' END AS st) n;

-- -----------------------------------------------------------------------------
-- Looping Flow: 40 projects, 120 videos, 90 generations
-- -----------------------------------------------------------------------------
INSERT INTO "looping_flow_projects" ("id", "userId", "name", "description", "createdAt", "updatedAt")
SELECT 'cm' || substr(md5('lf-project-' || g), 1, 23), u."id",
       (ARRAY['Background Live', 'Ambience Cafe', 'Rain Loop', 'Product Spin'])[1 + g % 4] || ' ' || g, NULL,
       GREATEST(u."createdAt", timestamp '2025-07-29 12:00') + interval '1 day' * (x.h % 60),
       GREATEST(u."createdAt", timestamp '2025-07-29 12:00') + interval '1 day' * (x.h % 60) + interval '2 hours'
FROM generate_series(1, 40) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('lfp-h-' || g), 1, 6))::bit(24)::int AS h) x
JOIN (SELECT "id", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "users") u ON u.rn = 1 + (g * 17) % 180;

INSERT INTO "looping_flow_videos" ("id", "projectId", "fileName", "filePath", "fileSize", "duration", "mimeType", "createdAt")
SELECT 'cm' || substr(md5('lf-video-' || p."id" || k), 1, 23), p."id", 'source_' || k || '.mp4',
       '/uploads/looping-flow/' || p."id" || '/' || substr(md5('lfv-' || p."id" || k), 1, 16) || '.mp4',
       3000000 + (('x' || substr(md5('lfs-' || p."id" || k), 1, 6))::bit(24)::int % 40000000),
       (5 + k * 3)::double precision, 'video/mp4', p."createdAt" + interval '1 minute' * (5 * k)
FROM "looping_flow_projects" p CROSS JOIN generate_series(1, 3) AS k;

INSERT INTO "looping_flow_generations" ("id", "projectId", "userId", "videoId", "targetDuration", "crossfadeDuration",
                                        "creditUsed", "status", "outputPath", "errorMessage", "createdAt", "completedAt")
SELECT 'cm' || substr(md5('lf-gen-' || g), 1, 23), p."id", p."userId",
       'cm' || substr(md5('lf-video-' || p."id" || (1 + x.h % 3)), 1, 23),
       (ARRAY[300, 600, 1800, 3600])[1 + x.h % 4], 1.0, (ARRAY[2, 4, 8, 12])[1 + x.h % 4], n.st,
       CASE WHEN n.st = 'completed' THEN '/outputs/looping-flow/' || substr(md5('lfo-' || g), 1, 12) || '.mp4' END,
       CASE WHEN n.st = 'failed' THEN 'Crossfade filter failed' END,
       c.ts, CASE WHEN n.st IN ('completed', 'failed') THEN c.ts + interval '1 second' * (120 + x.h % 1800) END
FROM generate_series(1, 90) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('lfg-h-' || g), 1, 6))::bit(24)::int AS h) x
JOIN (SELECT "id", "userId", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "looping_flow_projects") p ON p.rn = 1 + (g * 7) % 40
CROSS JOIN LATERAL (SELECT p."createdAt" + interval '1 hour' + (timestamp '2025-10-15 20:00' - p."createdAt") * ((x.h % 1000) / 1000.0) AS ts) c
CROSS JOIN LATERAL (SELECT CASE WHEN x.h % 100 < 90 THEN 'completed' WHEN x.h % 100 < 97 THEN 'failed' ELSE 'processing' END AS st) n;

-- -----------------------------------------------------------------------------
-- Background Remover: 80 batches, 900 jobs
-- -----------------------------------------------------------------------------
INSERT INTO "background_removal_batches" ("id", "batchId", "userId", "tier", "totalImages", "processedImages", "failedImages",
                                          "status", "totalCredits", "discountPercentage", "zipUrl", "createdAt", "completedAt")
SELECT 'cm' || substr(md5('bg-batch-' || g), 1, 23), 'batch_' || substr(md5('bgb-' || g), 1, 12), u."id",
       (ARRAY['basic', 'standard', 'professional', 'industry'])[1 + x.h % 4], 5, 5 - (x.h % 7 = 0)::int, (x.h % 7 = 0)::int,
       'completed', 5 * (ARRAY[3, 8, 15, 25])[1 + x.h % 4], 0,
       '/outputs/background-remover/' || substr(md5('bgz-' || g), 1, 12) || '.zip',
       c.ts, c.ts + interval '1 second' * (30 + x.h % 300)
FROM generate_series(1, 80) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('bgb-h-' || g), 1, 6))::bit(24)::int AS h) x
JOIN (SELECT "id", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "users") u ON u.rn = 1 + (g * 19) % 160
CROSS JOIN LATERAL (SELECT GREATEST(u."createdAt", timestamp '2025-08-19 12:00')
                           + (timestamp '2025-10-15 20:00' - GREATEST(u."createdAt", timestamp '2025-08-19 12:00')) * ((x.h % 1000) / 1000.0) AS ts) c;

INSERT INTO "background_removal_jobs" ("id", "userId", "batchId", "tier", "originalUrl", "processedUrl", "status", "creditsUsed",
                                       "processingTimeMs", "aiProvider", "modelName", "errorMessage", "createdAt", "completedAt")
SELECT 'cm' || substr(md5('bg-job-b-' || b."id" || k), 1, 23), b."userId", b."batchId", b."tier",
       '/uploads/background-remover/' || substr(md5('bgo-' || b."id" || k), 1, 16) || '.jpg',
       CASE WHEN k <= b."processedImages" THEN '/outputs/background-remover/' || substr(md5('bgp-' || b."id" || k), 1, 16) || '.png' END,
       CASE WHEN k <= b."processedImages" THEN 'completed' ELSE 'failed' END,
       b."totalCredits" / 5, 1800 + k * 311, 'huggingface', 'briaai/RMBG-1.4',
       CASE WHEN k > b."processedImages" THEN 'Model inference timeout' END,
       b."createdAt", b."createdAt" + interval '1 second' * (5 + k * 4)
FROM "background_removal_batches" b CROSS JOIN generate_series(1, 5) AS k;

INSERT INTO "background_removal_jobs" ("id", "userId", "batchId", "tier", "originalUrl", "processedUrl", "status", "creditsUsed",
                                       "processingTimeMs", "aiProvider", "modelName", "errorMessage", "createdAt", "completedAt")
SELECT 'cm' || substr(md5('bg-job-s-' || g), 1, 23), u."id", NULL,
       (ARRAY['basic', 'standard', 'professional', 'industry'])[1 + x.h % 4],
       '/uploads/background-remover/' || substr(md5('bgso-' || g), 1, 16) || '.jpg',
       CASE WHEN n.st = 'completed' THEN '/outputs/background-remover/' || substr(md5('bgsp-' || g), 1, 16) || '.png' END,
       n.st, (ARRAY[3, 8, 15, 25])[1 + x.h % 4],
       CASE WHEN n.st <> 'pending' THEN 1500 + x.h % 9000 END,
       CASE WHEN x.h % 4 < 2 THEN 'huggingface' ELSE 'segmind' END,
       CASE WHEN x.h % 4 < 2 THEN 'briaai/RMBG-1.4' ELSE 'birefnet' END,
       CASE WHEN n.st = 'failed' THEN 'Model inference timeout' END,
       c.ts, CASE WHEN n.st IN ('completed', 'failed') THEN c.ts + interval '1 second' * (2 + x.h % 30) END
FROM generate_series(1, 500) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('bgs-h-' || g), 1, 6))::bit(24)::int AS h) x
JOIN (SELECT "id", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "users") u ON u.rn = 1 + (g * 23) % 170
CROSS JOIN LATERAL (SELECT GREATEST(u."createdAt", timestamp '2025-08-19 12:00')
                           + (timestamp '2025-10-15 21:30' - GREATEST(u."createdAt", timestamp '2025-08-19 12:00')) * ((x.h % 1000) / 1000.0) AS ts) c
CROSS JOIN LATERAL (SELECT CASE WHEN x.h % 100 < 93 THEN 'completed' WHEN x.h % 100 < 98 THEN 'failed' ELSE 'pending' END AS st) n;

-- -----------------------------------------------------------------------------
-- Avatar Generator: 800 avatar_generations
-- -----------------------------------------------------------------------------
INSERT INTO "avatar_generations" ("id", "userId", "status", "prompt", "inputImageUrl", "outputUrl", "thumbnailUrl",
                                  "gender", "ageRange", "style", "creditUsed", "errorMessage", "createdAt", "completedAt", "seedUsed")
SELECT
    'cm' || substr(md5('avatar-gen-' || g), 1, 23),
    u."id",
    n.st,
    'Professional ' || a.gender || ' model, ' || a.age || ', ' || a.style || ' style, studio lighting, looking at camera',
    CASE WHEN x.h % 3 = 0 THEN '/uploads/avatar-generator/input/' || substr(md5('agi-' || g), 1, 16) || '.jpg' END,
    CASE WHEN n.st = 'completed' THEN '/uploads/avatar-generator/' || substr(md5('ago-' || g), 1, 16) || '.png' END,
    CASE WHEN n.st = 'completed' THEN '/uploads/avatar-generator/thumb_' || substr(md5('ago-' || g), 1, 16) || '.jpg' END,
    a.gender, a.age, a.style,
    CASE WHEN n.st = 'failed' THEN 0 ELSE 10 END,
    CASE WHEN n.st = 'failed' THEN (ARRAY['HuggingFace API error: 503 Model is loading', 'NSFW content detected', 'Request timed out'])[1 + x.h % 3] END,
    c.ts,
    CASE WHEN n.st IN ('completed', 'failed') THEN c.ts + interval '1 second' * (15 + x.h % 90) END,
    CASE WHEN c.ts >= timestamp '2025-09-09 13:18:10' AND n.st = 'completed' THEN x.h % 2147483 END
FROM generate_series(1, 800) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('ag-h-' || g), 1, 6))::bit(24)::int AS h) x
CROSS JOIN LATERAL (SELECT (ARRAY['female', 'male', 'female'])[1 + x.h % 3] AS gender,
                           (ARRAY['young adult', 'adult', 'teen', 'middle-aged'])[1 + (x.h / 3) % 4] AS age,
                           (ARRAY['casual', 'formal', 'hijab fashion', 'sporty', 'streetwear'])[1 + (x.h / 12) % 5] AS style) a
JOIN (SELECT "id", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "users") u
  ON u.rn = 1 + floor(power(((x.h / 60) % 10007) / 10007.0, 1.5) * 180)::int
CROSS JOIN LATERAL (SELECT GREATEST(u."createdAt", timestamp '2025-08-26 15:00')
                           + (timestamp '2025-10-15 21:45' - GREATEST(u."createdAt", timestamp '2025-08-26 15:00')) * ((x.h % 10000) / 10000.0) AS ts) c
CROSS JOIN LATERAL (SELECT CASE WHEN c.ts > timestamp '2025-10-15 21:15' THEN 'processing'
                                WHEN x.h % 100 < 90 THEN 'completed'
                                WHEN x.h % 100 < 99 THEN 'failed'
                                ELSE 'pending' END AS st) n;

-- -----------------------------------------------------------------------------
-- Pose Generator: 600 pose_generations, ~3,000 generated_poses
-- -----------------------------------------------------------------------------
INSERT INTO "pose_generations" ("id", "userId", "avatarImageUrl", "prompt", "status", "totalExpectedPoses", "posesCompleted",
                                "posesFailed", "creditCharged", "creditRefunded", "errorMessage", "createdAt", "startedAt",
                                "completedAt", "progress", "queueJobId")
SELECT
    'cm' || substr(md5('pose-gen-' || g), 1, 23),
    u."id",
    '/uploads/pose-generator/avatars/' || substr(md5('pga-' || u."id"), 1, 16) || '.png',
    CASE WHEN x.h % 4 = 0 THEN (ARRAY['standing confidently, hands on hips', 'sitting on a wooden stool, relaxed',
                                      'walking towards camera, street style', 'holding product near face, smiling'])[1 + (x.h / 4) % 4] END,
    n.st,
    n.total,
    n.done,
    n.failed,
    n.total * 30,
    n.failed * 30,
    CASE WHEN n.st = 'failed' THEN 'ControlNet worker crashed: CUDA out of memory' END,
    c.ts,
    CASE WHEN n.st <> 'pending' THEN c.ts + interval '1 second' * (2 + x.h % 20) END,
    CASE WHEN n.st IN ('completed', 'partial', 'failed') THEN c.ts + interval '1 second' * (40 + n.total * (20 + x.h % 40)) END,
    CASE WHEN n.st IN ('completed', 'partial', 'failed') THEN 100
         WHEN n.st = 'processing' THEN (100 * n.done / n.total)
         ELSE 0 END,
    CASE WHEN c.ts >= timestamp '2025-10-10 12:00' THEN 'pose-gen-job-' || substr(md5('pgq-' || g), 1, 12) END
FROM generate_series(1, 600) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('pg-h-' || g), 1, 6))::bit(24)::int AS h) x
JOIN (SELECT "id", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "users") u
  ON u.rn = 1 + floor(power(((x.h / 50) % 10007) / 10007.0, 1.5) * 190)::int
CROSS JOIN LATERAL (SELECT GREATEST(u."createdAt", timestamp '2025-09-02 11:00')
                           + (timestamp '2025-10-15 21:55' - GREATEST(u."createdAt", timestamp '2025-09-02 11:00')) * ((x.h % 10000) / 10000.0) AS ts) c
CROSS JOIN LATERAL (
    SELECT t.total, t.st,
           CASE t.st WHEN 'completed' THEN t.total
                     WHEN 'partial' THEN t.total - 1 - x.h % 2
                     WHEN 'processing' THEN x.h % t.total
                     ELSE 0 END AS done,
           CASE t.st WHEN 'partial' THEN 1 + x.h % 2
                     WHEN 'failed' THEN t.total
                     ELSE 0 END AS failed
    FROM (SELECT (ARRAY[4, 4, 6, 8, 5])[1 + (x.h / 5) % 5] AS total,
                 CASE WHEN c.ts > timestamp '2025-10-15 21:20' THEN 'processing'
                      WHEN x.h % 100 < 84 THEN 'completed'
                      WHEN x.h % 100 < 93 THEN 'partial'
                      WHEN x.h % 100 < 98 THEN 'failed'
                      WHEN x.h % 100 < 99 THEN 'processing'
                      ELSE 'pending' END AS st) t
) n;

INSERT INTO "generated_poses" ("id", "generationId", "outputImageUrl", "thumbnailUrl", "originalImageUrl", "promptUsed", "seedUsed",
                               "status", "isFavorite", "downloadCount", "createdAt", "errorMessage", "retryCount")
SELECT
    'cm' || substr(md5('pose-out-' || pg."id" || '-' || k), 1, 23),
    pg."id",
    '/uploads/pose-generator/' || pg."id" || '/pose_' || k || '.png',
    '/uploads/pose-generator/' || pg."id" || '/pose_' || k || '_thumb.jpg',
    pg."avatarImageUrl",
    (ARRAY['standing, hands on hips, full body', 'sitting cross-legged, looking sideways', 'walking, mid-stride, candid',
           'leaning on wall, arms crossed', 'holding product at chest height', 'over-the-shoulder look, back to camera',
           'jumping, joyful expression', 'kneeling, one hand on knee'])[1 + (k + (x.h % 8)) % 8] || ', same outfit, studio background',
    x.h % 2147483,
    'completed',
    x.h % 9 = 0,
    x.h % 5,
    COALESCE(pg."startedAt", pg."createdAt") + interval '1 second' * (25 * k + x.h % 20),
    NULL,
    CASE WHEN x.h % 17 = 0 THEN 1 ELSE 0 END
FROM "pose_generations" pg
CROSS JOIN LATERAL generate_series(1, pg."posesCompleted") AS k
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('gp-h-' || pg."id" || k), 1, 6))::bit(24)::int AS h) x;

INSERT INTO "generated_poses" ("id", "generationId", "outputImageUrl", "thumbnailUrl", "originalImageUrl", "promptUsed", "seedUsed",
                               "status", "isFavorite", "downloadCount", "createdAt", "errorMessage", "retryCount")
SELECT
    'cm' || substr(md5('pose-out-' || pg."id" || '-' || (pg."posesCompleted" + k)), 1, 23),
    pg."id",
    '',
    NULL,
    pg."avatarImageUrl",
    'pose ' || (pg."posesCompleted" + k) || ', same outfit, studio background',
    NULL,
    'failed',
    false,
    0,
    COALESCE(pg."startedAt", pg."createdAt") + interval '1 second' * (25 * (pg."posesCompleted" + k)),
    'Generation failed after 3 attempts',
    3
FROM "pose_generations" pg
CROSS JOIN LATERAL generate_series(1, pg."posesFailed") AS k;

-- -----------------------------------------------------------------------------
-- model_usages (1,500)
-- -----------------------------------------------------------------------------
INSERT INTO "model_usages" ("id", "userId", "appId", "modelKey", "usageType", "creditUsed", "quotaUsed", "action", "metadata", "createdAt")
SELECT
    'cm' || substr(md5('model-usage-' || g), 1, 23),
    u."id",
    m."appId",
    m."modelKey",
    CASE WHEN u."accountType" = 'subscription' THEN 'quota' ELSE 'credit' END,
    CASE WHEN u."accountType" = 'payg' THEN m."creditCost" END,
    CASE WHEN u."accountType" = 'subscription' THEN m."quotaCost" END,
    'generate',
    jsonb_build_object('latencyMs', 2000 + x.h % 60000),
    GREATEST(u."createdAt", m."createdAt") + (timestamp '2025-10-15 22:00' - GREATEST(u."createdAt", m."createdAt")) * ((x.h % 1000) / 1000.0)
FROM generate_series(1, 1500) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('mu-h-' || g), 1, 6))::bit(24)::int AS h) x
JOIN (SELECT "modelKey", "appId", "creditCost", "quotaCost", "createdAt", row_number() OVER (ORDER BY "id") AS rn FROM "ai_models") m
  ON m.rn = 1 + x.h % 10
JOIN (SELECT "id", "createdAt", "accountType", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "users") u
  ON u.rn = 1 + (x.h / 10) % 200;

-- -----------------------------------------------------------------------------
-- notifications (1,200) and audit_logs (700)
-- -----------------------------------------------------------------------------
INSERT INTO "notifications" ("id", "userId", "type", "title", "message", "priority", "read", "readAt",
                             "actionUrl", "actionLabel", "metadata", "createdAt")
SELECT
    'cm' || substr(md5('notification-' || g), 1, 23),
    u."id",
    nt.type, nt.title, nt.message,
    CASE WHEN nt.type IN ('credit_low', 'payment_failed') THEN 'high' ELSE 'normal' END,
    c.ts < timestamp '2025-10-12' AND x.h % 4 <> 0,
    CASE WHEN c.ts < timestamp '2025-10-12' AND x.h % 4 <> 0 THEN c.ts + interval '1 minute' * (1 + x.h % 2000) END,
    nt.url, nt.label,
    NULL,
    c.ts
FROM generate_series(1, 1200) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('n-h-' || g), 1, 6))::bit(24)::int AS h) x
CROSS JOIN LATERAL (
    SELECT (ARRAY['generation_complete', 'generation_failed', 'credit_low', 'payment_success', 'payment_failed', 'system'])[1 + x.h % 6] AS type,
           (ARRAY['Generation complete', 'Generation failed', 'Credits running low', 'Payment received', 'Payment failed', 'New: Pose Generator (beta)'])[1 + x.h % 6] AS title,
           (ARRAY['Your videos are ready to download.', 'Something went wrong. Your credits have been refunded.',
                  'You have less than 20 credits left.', 'Your credits have been added to your account.',
                  'We could not process your payment.', 'Generate your avatar in hundreds of poses.'])[1 + x.h % 6] AS message,
           (ARRAY['/dashboard', '/dashboard', '/credits', '/credits', '/credits', '/apps/pose-generator'])[1 + x.h % 6] AS url,
           (ARRAY['View', 'Retry', 'Top up', 'View', 'Try again', 'Try it'])[1 + x.h % 6] AS label
) nt
JOIN (SELECT "id", "createdAt", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "users") u ON u.rn = 1 + (x.h / 6) % 200
CROSS JOIN LATERAL (SELECT GREATEST(u."createdAt", timestamp '2025-09-16 11:00')
                           + (timestamp '2025-10-15 22:00' - GREATEST(u."createdAt", timestamp '2025-09-16 11:00')) * ((x.h % 1000) / 1000.0) AS ts) c;

INSERT INTO "audit_logs" ("id", "userId", "action", "entityType", "entityId", "ipAddress", "userAgent", "details", "createdAt")
SELECT
    'cm' || substr(md5('audit-' || g), 1, 23),
    CASE WHEN x.h % 20 = 0 THEN NULL ELSE u."id" END,
    (ARRAY['login', 'logout', 'update_profile', 'create_project', 'delete_project', 'change_password', 'login_failed'])[1 + x.h % 7],
    (ARRAY['user', 'user', 'user', 'project', 'project', 'user', 'user'])[1 + x.h % 7],
    CASE WHEN x.h % 7 IN (3, 4) THEN 'cm' || substr(md5('project-' || (1 + x.h % 300)), 1, 23) ELSE u."id" END,
    '36.' || (64 + x.h % 60) || '.' || (x.h / 256 % 256) || '.' || (x.h % 254 + 1),
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36',
    jsonb_build_object('success', x.h % 7 <> 6),
    timestamp '2025-10-06 11:20' + (timestamp '2025-10-15 22:00' - timestamp '2025-10-06 11:20') * ((x.h % 10000) / 10000.0)
FROM generate_series(1, 700) AS g
CROSS JOIN LATERAL (SELECT ('x' || substr(md5('al-h-' || g), 1, 6))::bit(24)::int AS h) x
JOIN (SELECT "id", row_number() OVER (ORDER BY "createdAt", "id") AS rn FROM "users") u ON u.rn = 1 + (x.h / 7) % 200;
