"""Self-tests of the retention rows of FIDELITY.md (E13-E18, L11), mixed into
selftest.py's Emulator test case (they share its server and helpers).

The lifecycle examples are the ones of the ECR user guide's *Examples of
lifecycle policies in Amazon ECR* page (tag lists, ages and expected outcome as
the guide gives them); images are pushed "N days ago" through the control API.
"""

from __future__ import annotations

import json
import time
import urllib.error

from botocore.exceptions import ClientError

DAY = 86400.0


def rule(priority: int, tag_status: str, count_type: str, number: int, *, prefixes=None,
         patterns=None, storage: str | None = None, action: str = "expire") -> dict:
    sel: dict = {"tagStatus": tag_status, "countType": count_type, "countNumber": number}
    if prefixes is not None:
        sel["tagPrefixList"] = prefixes
    if patterns is not None:
        sel["tagPatternList"] = patterns
    if count_type != "imageCountMoreThan":
        sel["countUnit"] = "days"
    if storage:
        sel["storageClass"] = storage
    act = {"type": action}
    if action == "transition":
        act["targetStorageClass"] = "archive"
    return {"rulePriority": priority, "selection": sel, "action": act}


def policy(*rules: dict) -> str:
    return json.dumps({"rules": list(rules)})


class RetentionTests:
    """Needs the Emulator test case's helpers: control, put, repo_with_image,
    create_function, config, error, ecr, lam."""

    # -- helpers ------------------------------------------------------------

    def image_in(self, repo: str, seed: str, tags: list[str] | tuple = (), days_ago: float = 0.0) -> str:
        from selftest import image_manifest, sha  # noqa: PLC0415  (selftest imports this module)

        try:
            self.ecr.create_repository(repositoryName=repo)
        except ClientError as e:
            if e.response["Error"]["Code"] != "RepositoryAlreadyExistsException":
                raise
        manifest = image_manifest(seed)
        digest = sha(manifest)
        self.put(repo, manifest, tags[0] if tags else None, imageDigest=digest)
        for tag in tags[1:]:
            self.put(repo, manifest, tag, imageDigest=digest)
        self.control("POST", "/_emulator/ecr/images/pushed-at",
                     {"repository": repo, "digest": digest, "pushed_at": time.time() - days_ago * DAY})
        return digest

    def preview(self, repo: str, text: str | None = None, **get_kw) -> dict:
        kw = {"lifecyclePolicyText": text} if text is not None else {}
        started = self.ecr.start_lifecycle_policy_preview(repositoryName=repo, **kw)
        self.assertEqual(started["status"], "IN_PROGRESS")
        for _ in range(10):
            got = self.ecr.get_lifecycle_policy_preview(repositoryName=repo, **get_kw)
            if got["status"] == "COMPLETE":
                return got
        self.fail("preview never COMPLETE")

    def acted(self, repo: str, text: str) -> dict[str, tuple[int, str]]:
        got = self.preview(repo, text)
        return {r["imageDigest"]: (r["appliedRulePriority"], r["action"]["type"]) for r in got["previewResults"]}

    def status(self, repo: str, digest: str) -> dict:
        return self.ecr.describe_images(repositoryName=repo, imageIds=[{"imageDigest": digest}],
                                        filter={"imageStatus": "ANY"})["imageDetails"][0]

    # -- E13 DescribeImages --------------------------------------------------

    def test_E13_describe_images_status_fields_and_default_filter(self) -> None:
        a = self.image_in("app", "a", ["v1"])
        b = self.image_in("app", "b", ["v2"])
        details = self.ecr.describe_images(repositoryName="app")["imageDetails"]
        self.assertEqual({d["imageDigest"]: d["imageStatus"] for d in details}, {a: "ACTIVE", b: "ACTIVE"})
        self.assertNotIn("lastArchivedAt", details[0])
        self.assertNotIn("lastRecordedPullTime", details[0])
        self.ecr.update_image_storage_class(repositoryName="app", imageId={"imageDigest": a},
                                            targetStorageClass="ARCHIVE")
        # Without a filter only ACTIVE images are listed (API reference, DescribeImagesFilter).
        self.assertEqual([d["imageDigest"] for d in self.ecr.describe_images(repositoryName="app")["imageDetails"]], [b])
        listed = self.ecr.describe_images(repositoryName="app", filter={"imageStatus": "ARCHIVED"})["imageDetails"]
        self.assertEqual([(d["imageDigest"], d["imageStatus"]) for d in listed], [(a, "ARCHIVED")])
        self.assertIn("lastArchivedAt", listed[0])
        self.assertEqual(len(self.ecr.describe_images(repositoryName="app", filter={"imageStatus": "ANY"})["imageDetails"]), 2)
        self.assertEqual([i["imageDigest"] for i in self.ecr.list_images(repositoryName="app")["imageIds"]], [b])
        self.assertEqual(len(self.ecr.list_images(repositoryName="app", filter={"imageStatus": "ANY"})["imageIds"]), 2)
        # By imageIds the filter applies too (uncertain): ANY finds the archived one.
        with self.assertRaises(ClientError) as ctx:
            self.ecr.describe_images(repositoryName="app", imageIds=[{"imageDigest": a}])
        self.assertEqual(self.error(ctx)[1], "ImageNotFoundException")
        got = self.ecr.describe_images(repositoryName="app", imageIds=[{"imageDigest": b}, {"imageDigest": a}],
                                       filter={"imageStatus": "ANY"})["imageDetails"]
        self.assertEqual([d["imageDigest"] for d in got], [b, a])

    def test_E13_describe_images_missing_digest_fails_the_whole_call(self) -> None:
        a = self.image_in("app", "a", ["v1"])
        missing = "sha256:" + "1" * 64
        with self.assertRaises(ClientError) as ctx:
            self.ecr.describe_images(repositoryName="app", imageIds=[{"imageDigest": a}, {"imageDigest": missing}])
        status, code, message, _ = self.error(ctx)
        self.assertEqual((status, code), (400, "ImageNotFoundException"))
        self.assertIn(missing, message)

    def test_E13_last_recorded_pull_time_set_by_lambda_and_batch_get_image(self) -> None:
        from selftest import REGISTRY  # noqa: PLC0415

        a = self.image_in("app", "a", ["v1"])
        self.assertNotIn("lastRecordedPullTime", self.status("app", a))
        before = time.time()
        self.create_function("fn", f"{REGISTRY}/app:v1")
        pulled = self.status("app", a)["lastRecordedPullTime"].timestamp()
        self.assertGreaterEqual(pulled, before - 1)
        self.control("POST", "/_emulator/ecr/images/times", {"repository": "app", "digest": a, "pulled_at": 1000.0})
        self.assertEqual(self.status("app", a)["lastRecordedPullTime"].timestamp(), 1000.0)
        self.ecr.batch_get_image(repositoryName="app", imageIds=[{"imageTag": "v1"}])  # a pull too
        self.assertGreaterEqual(self.status("app", a)["lastRecordedPullTime"].timestamp(), before - 1)

    # -- E14 UpdateImageStorageClass -----------------------------------------

    def test_E14_archive_then_restore_through_activating(self) -> None:
        self.control("POST", "/_emulator/ecr/settings", {"restore_seconds": 0.3})
        a = self.image_in("app", "a", ["v1"])
        got = self.ecr.update_image_storage_class(repositoryName="app", imageId={"imageTag": "v1"},
                                                  targetStorageClass="ARCHIVE")
        self.assertEqual((got["imageId"], got["imageStatus"], got["repositoryName"]),
                         ({"imageDigest": a, "imageTag": "v1"}, "ARCHIVED", "app"))
        got = self.ecr.update_image_storage_class(repositoryName="app", imageId={"imageDigest": a},
                                                  targetStorageClass="STANDARD")
        self.assertEqual(got["imageStatus"], "ACTIVATING")
        self.assertEqual(self.status("app", a)["imageStatus"], "ACTIVATING")
        self.assertNotIn("lastActivatedAt", self.status("app", a))
        # Asked again while restoring: the restore goes on (uncertain).
        self.assertEqual(self.ecr.update_image_storage_class(
            repositoryName="app", imageId={"imageDigest": a}, targetStorageClass="STANDARD")["imageStatus"], "ACTIVATING")
        time.sleep(0.35)
        detail = self.status("app", a)
        self.assertEqual(detail["imageStatus"], "ACTIVE")
        self.assertGreaterEqual(detail["lastActivatedAt"], detail["lastArchivedAt"])

    def test_E14_refused_updates(self) -> None:
        a = self.image_in("app", "a", ["v1"])
        cases = [
            ({"imageDigest": a}, "STANDARD", "ImageStorageClassUpdateNotSupportedException"),
            ({"imageDigest": "sha256:" + "2" * 64}, "ARCHIVE", "ImageNotFoundException"),
            ({"imageTag": "nope"}, "ARCHIVE", "ImageNotFoundException"),
            ({"imageDigest": a}, "COLD", "ValidationException"),
        ]
        for image_id, target, code in cases:
            with self.subTest(image_id=image_id, target=target):
                with self.assertRaises(ClientError) as ctx:
                    self.ecr.update_image_storage_class(repositoryName="app", imageId=image_id,
                                                        targetStorageClass=target)
                self.assertEqual(self.error(ctx)[1], code)
        self.ecr.update_image_storage_class(repositoryName="app", imageId={"imageDigest": a},
                                            targetStorageClass="ARCHIVE")
        with self.assertRaises(ClientError) as ctx:
            self.ecr.update_image_storage_class(repositoryName="app", imageId={"imageDigest": a},
                                                targetStorageClass="ARCHIVE")
        self.assertEqual(self.error(ctx)[1], "ImageStorageClassUpdateNotSupportedException")
        with self.assertRaises(ClientError) as ctx:
            self.ecr.update_image_storage_class(repositoryName="absent", imageId={"imageDigest": a},
                                                targetStorageClass="ARCHIVE")
        self.assertEqual(self.error(ctx)[1], "RepositoryNotFoundException")

    def test_E14_pushing_an_archived_image_restores_it_at_once(self) -> None:
        from selftest import image_manifest, sha  # noqa: PLC0415

        a = self.image_in("app", "a", ["v1"])
        self.ecr.update_image_storage_class(repositoryName="app", imageId={"imageDigest": a},
                                            targetStorageClass="ARCHIVE")
        manifest = image_manifest("a")
        self.put("app", manifest, "lambda.fn.1", imageDigest=sha(manifest))
        detail = self.status("app", a)
        self.assertEqual((detail["imageStatus"], sorted(detail["imageTags"])), ("ACTIVE", ["lambda.fn.1", "v1"]))
        self.assertIn("lastActivatedAt", detail)

    # -- E15 pulls of archived images ----------------------------------------

    def test_E15_batch_get_image_of_archived_or_activating_image_fails(self) -> None:
        self.control("POST", "/_emulator/ecr/settings", {"restore_seconds": 30})
        a = self.image_in("app", "a", ["v1"])
        b = self.image_in("app", "b", ["v2"])
        self.ecr.update_image_storage_class(repositoryName="app", imageId={"imageDigest": a},
                                            targetStorageClass="ARCHIVE")
        for expected in ("ARCHIVED", "ACTIVATING"):
            with self.subTest(status=expected):
                got = self.ecr.batch_get_image(repositoryName="app",
                                               imageIds=[{"imageDigest": a}, {"imageDigest": b}])
                self.assertEqual([i["imageId"]["imageDigest"] for i in got["images"]], [b])
                self.assertEqual([(f["imageId"], f["failureCode"]) for f in got["failures"]],
                                 [({"imageDigest": a}, "ImageNotFound")])
                self.assertIn(expected, got["failures"][0]["failureReason"])
                by_tag = self.ecr.batch_get_image(repositoryName="app", imageIds=[{"imageTag": "v1"}])
                self.assertEqual(([], [f["imageId"] for f in by_tag["failures"]]), (by_tag["images"], [{"imageTag": "v1"}]))
                self.ecr.update_image_storage_class(repositoryName="app", imageId={"imageDigest": a},
                                                    targetStorageClass="STANDARD")

    def test_E15_lambda_refuses_an_archived_image(self) -> None:
        from selftest import REGISTRY  # noqa: PLC0415

        a = self.image_in("app", "a", ["v1"])
        self.ecr.update_image_storage_class(repositoryName="app", imageId={"imageDigest": a},
                                            targetStorageClass="ARCHIVE")
        uri = f"{REGISTRY}/app@{a}"
        with self.assertRaises(ClientError) as ctx:
            self.create_function("fn", uri)
        status, code, message, _ = self.error(ctx)
        self.assertEqual((status, code), (400, "InvalidParameterValueException"))
        self.assertEqual(message, f"Source image {uri} does not exist. Provide a valid source image.")

    # -- E16 lifecycle policy text -------------------------------------------

    def test_E16_lifecycle_policy_put_get_delete(self) -> None:
        self.image_in("app", "a", ["v1"])
        with self.assertRaises(ClientError) as ctx:
            self.ecr.get_lifecycle_policy(repositoryName="app")
        self.assertEqual(self.error(ctx)[1], "LifecyclePolicyNotFoundException")
        text = policy(rule(1, "tagged", "imageCountMoreThan", 9999, prefixes=["lambda."]),
                      rule(2, "tagged", "sinceImagePulled", 30, patterns=["v*"], action="transition"),
                      rule(3, "any", "sinceImageTransitioned", 90, storage="archive"))
        text = text.replace(", ", ",  ")  # stored exactly as sent
        self.assertEqual(self.ecr.put_lifecycle_policy(repositoryName="app", lifecyclePolicyText=text)["lifecyclePolicyText"], text)
        self.assertEqual(self.ecr.get_lifecycle_policy(repositoryName="app")["lifecyclePolicyText"], text)
        self.ecr.delete_lifecycle_policy(repositoryName="app")
        with self.assertRaises(ClientError) as ctx:
            self.ecr.delete_lifecycle_policy(repositoryName="app")
        self.assertEqual(self.error(ctx)[1], "LifecyclePolicyNotFoundException")

    def test_E16_invalid_policies_refused(self) -> None:
        self.image_in("app", "a", ["v1"])
        bad = {
            "not json": "{",
            "no rules": json.dumps({"rules": []}),
            "same priority": policy(rule(1, "untagged", "imageCountMoreThan", 1),
                                    rule(1, "tagged", "imageCountMoreThan", 1, prefixes=["v"])),
            "any not last": policy(rule(1, "any", "imageCountMoreThan", 1),
                                   rule(2, "untagged", "imageCountMoreThan", 1)),
            "tagged without list": policy(rule(1, "tagged", "imageCountMoreThan", 1)),
            "untagged with list": policy(rule(1, "untagged", "imageCountMoreThan", 1, prefixes=["v"])),
            "both lists": policy(rule(1, "tagged", "imageCountMoreThan", 1, prefixes=["v"], patterns=["v*"])),
            "five wildcards": policy(rule(1, "tagged", "imageCountMoreThan", 1, patterns=["*a*b*c*d*"])),
            "count 0": policy(rule(1, "untagged", "imageCountMoreThan", 0)),
            "transition to glacier": json.dumps({"rules": [{"rulePriority": 1, "selection": {
                "tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
                "action": {"type": "transition", "targetStorageClass": "glacier"}}]}),
            "transition from archive": policy(rule(1, "untagged", "sinceImagePushed", 1, storage="archive",
                                                   action="transition")),
            "sinceImagePulled expiring": policy(rule(1, "untagged", "sinceImagePulled", 30)),
            "sinceImageTransitioned on standard": policy(rule(1, "untagged", "sinceImageTransitioned", 90)),
            "archive expired before 90 days": policy(rule(1, "untagged", "sinceImageTransitioned", 89,
                                                          storage="archive")),
            "unit on a count": json.dumps({"rules": [{"rulePriority": 1, "selection": {
                "tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1, "countUnit": "days"},
                "action": {"type": "expire"}}]}),
        }
        for name, text in bad.items():
            text = text.ljust(100)  # the model's minimum length; JSON allows the spaces
            with self.subTest(name):
                with self.assertRaises(ClientError) as ctx:
                    self.ecr.put_lifecycle_policy(repositoryName="app", lifecyclePolicyText=text)
                self.assertEqual(self.error(ctx)[1], "InvalidParameterException")
                with self.assertRaises(ClientError) as ctx:
                    self.ecr.start_lifecycle_policy_preview(repositoryName="app", lifecyclePolicyText=text)
                self.assertEqual(self.error(ctx)[1], "InvalidParameterException")

    # -- control API -----------------------------------------------------------

    def test_control_ecr_settings_and_times_refuse_bad_bodies(self) -> None:
        a = self.image_in("app", "a", ["v1"])
        for path, body in (
            ("/_emulator/ecr/settings", {"restore_seconds": -1}),
            ("/_emulator/ecr/settings", {"restore_seconds": "soon"}),
            ("/_emulator/ecr/settings", {"colour": 1}),
            ("/_emulator/ecr/settings", {"preview_in_progress_reads": 1.5}),
            ("/_emulator/ecr/images/pushed-at", {"repository": "app", "digest": "sha256:x", "pushed_at": 1}),
            ("/_emulator/ecr/images/pushed-at", {"repository": "app", "digest": a, "pushed_at": "yesterday"}),
            ("/_emulator/ecr/images/pushed-at", {"repository": "absent", "digest": a, "pushed_at": 1}),
            ("/_emulator/ecr/images/times", {"repository": "app", "digest": a}),
        ):
            with self.subTest(path=path, body=body):
                with self.assertRaises(urllib.error.HTTPError) as ctx:
                    self.control("POST", path, body)
                self.assertEqual(ctx.exception.code, 400)

    # -- E17 lifecycle preview: the user guide's examples ---------------------

    def test_E17_guide_multiple_rules_example_a(self) -> None:
        """Examples of lifecycle policies, "Filtering on multiple rules", Example A:
        rule 1 (prod, keep 1) marks A; rule 2 (beta, keep 1) would mark A and B,
        but B carries a prod tag (rule 1's selection) and A is already marked.
        Result: A expires."""
        a = self.image_in("ex", "a", ["beta-1", "prod-1"], days_ago=10)
        self.image_in("ex", "b", ["beta-2", "prod-2"], days_ago=9)
        self.image_in("ex", "c", ["beta-3"], days_ago=8)
        for key in ("prefixes", "patterns"):
            with self.subTest(key):
                prod = {key: ["prod"] if key == "prefixes" else ["prod*"]}
                beta = {key: ["beta"] if key == "prefixes" else ["beta*"]}
                text = policy(rule(1, "tagged", "imageCountMoreThan", 1, **prod),
                              rule(2, "tagged", "imageCountMoreThan", 1, **beta))
                self.assertEqual(self.acted("ex", text), {a: (1, "EXPIRE")})

    def test_E17_guide_multiple_rules_example_b(self) -> None:
        """Example B: every image carries both prefixes; rule 1 keeps C and marks
        A and B; rule 2 finds them marked. Result: A and B expire, by rule 1."""
        a = self.image_in("ex", "a", ["beta-1", "prod-1"], days_ago=10)
        b = self.image_in("ex", "b", ["beta-2", "prod-2"], days_ago=9)
        self.image_in("ex", "c", ["beta-3", "prod-3"], days_ago=8)
        text = policy(rule(1, "tagged", "imageCountMoreThan", 1, prefixes=["prod"]),
                      rule(2, "tagged", "imageCountMoreThan", 1, prefixes=["beta"]))
        self.assertEqual(self.acted("ex", text), {a: (1, "EXPIRE"), b: (1, "EXPIRE")})

    def test_E17_guide_multiple_tags_in_one_rule(self) -> None:
        """"Filtering on multiple tags in a single rule": only images carrying a
        tag for every entry of the list are selected (alpha AND beta)."""
        self.image_in("ex", "a", ["alpha-1"], days_ago=12)
        self.image_in("ex", "b", ["beta-1"], days_ago=11)
        c = self.image_in("ex", "c", ["alpha-2", "beta-2"], days_ago=10)
        self.image_in("ex", "d", ["alpha-3"], days_ago=4)
        self.image_in("ex", "e", ["beta-3"], days_ago=3)
        self.image_in("ex", "f", ["alpha-4", "beta-4"], days_ago=2)
        by_age = policy(rule(1, "tagged", "sinceImagePushed", 5, prefixes=["alpha", "beta"]))
        self.assertEqual(self.acted("ex", by_age), {c: (1, "EXPIRE")})
        by_count = policy(rule(1, "tagged", "imageCountMoreThan", 1, prefixes=["alpha", "beta"]))
        self.assertEqual(self.acted("ex", by_count), {c: (1, "EXPIRE")})
        patterns = policy(rule(1, "tagged", "imageCountMoreThan", 1, patterns=["alpha-*", "*-2"]))
        self.assertEqual(self.acted("ex", patterns), {})  # only C has both; one is kept

    def test_E17_guide_all_images_example(self) -> None:
        """"Filtering on all images": rule 1 (alpha, keep 1) marks A; rule 2
        (any, keep 1) counts every image, D (newest, alpha) included, keeps D and
        marks A, B, C; A is rule 1's. Result: A by 1; B and C by 2."""
        a = self.image_in("ex", "a", ["alpha-1"], days_ago=4)
        b = self.image_in("ex", "b", ["beta-1"], days_ago=3)
        c = self.image_in("ex", "c", [], days_ago=2)
        self.image_in("ex", "d", ["alpha-2"], days_ago=1)
        text = policy(rule(1, "tagged", "imageCountMoreThan", 1, prefixes=["alpha"]),
                      rule(2, "any", "imageCountMoreThan", 1))
        self.assertEqual(self.acted("ex", text), {a: (1, "EXPIRE"), b: (2, "EXPIRE"), c: (2, "EXPIRE")})

    def test_E17_guide_age_and_count_examples(self) -> None:
        """"Filtering on image age" (tagPatternList prod*, older than 14 days) and
        "Filtering on image count" (keep one untagged image)."""
        old = self.image_in("ex", "a", ["prod-1"], days_ago=20)
        self.image_in("ex", "b", ["prod-2"], days_ago=10)
        self.image_in("ex", "c", ["dev-1"], days_ago=30)
        u1 = self.image_in("ex", "u1", [], days_ago=3)
        self.image_in("ex", "u2", [], days_ago=2)
        age = policy(rule(1, "tagged", "sinceImagePushed", 14, patterns=["prod*"]))
        self.assertEqual(self.acted("ex", age), {old: (1, "EXPIRE")})
        count = policy(rule(1, "untagged", "imageCountMoreThan", 1))
        self.assertEqual(self.acted("ex", count), {u1: (1, "EXPIRE")})

    # -- E17 the rules one by one ---------------------------------------------

    def test_E17_keep_rule_ahead_shields_its_images(self) -> None:
        """The keep-rule idiom: a tagged rule with a count no repository reaches,
        ahead of the others; its images are in its selection, so the `any` rule
        counts them but never acts on them."""
        pinned = self.image_in("ex", "a", ["lambda.fn.1"], days_ago=50)
        other = self.image_in("ex", "b", [], days_ago=40)
        self.image_in("ex", "c", ["v3"], days_ago=1)
        without = policy(rule(1, "any", "imageCountMoreThan", 1))
        self.assertEqual(self.acted("ex", without), {pinned: (1, "EXPIRE"), other: (1, "EXPIRE")})
        keep = policy(rule(1, "tagged", "imageCountMoreThan", 9999, prefixes=["lambda."]),
                      rule(2, "any", "imageCountMoreThan", 1))
        self.assertEqual(self.acted("ex", keep), {other: (2, "EXPIRE")})

    def test_E17_priority_order_not_list_order(self) -> None:
        a = self.image_in("ex", "a", ["v1"], days_ago=10)
        text = policy(rule(7, "any", "sinceImagePushed", 1),
                      rule(3, "tagged", "sinceImagePushed", 5, patterns=["v*"], action="transition"))
        self.assertEqual(self.acted("ex", text), {a: (3, "TRANSITION")})

    def test_E17_transition_and_storage_class(self) -> None:
        """The archive rules (user guide, lifecycle policy properties: storageClass,
        sinceImagePulled (never pulled: pushed time), sinceImageTransitioned):
        standard images are archived, archived ones expired after N days in archive."""
        self.control("POST", "/_emulator/ecr/settings", {"preview_in_progress_reads": 0})
        stale = self.image_in("ex", "a", ["v1"], days_ago=100)
        pulled = self.image_in("ex", "b", ["v2"], days_ago=100)
        self.control("POST", "/_emulator/ecr/images/times",
                     {"repository": "ex", "digest": pulled, "pulled_at": time.time() - 2 * DAY})
        archived = self.image_in("ex", "c", ["v3"], days_ago=300)
        self.ecr.update_image_storage_class(repositoryName="ex", imageId={"imageDigest": archived},
                                            targetStorageClass="ARCHIVE")
        text = policy(rule(1, "any", "sinceImagePulled", 90, action="transition"))
        got = self.preview("ex", text)["previewResults"]
        self.assertEqual([(r["imageDigest"], r["action"], r["storageClass"]) for r in got],
                         [(stale, {"type": "TRANSITION", "targetStorageClass": "ARCHIVE"}, "STANDARD")])
        expire_archived = policy(rule(1, "any", "sinceImageTransitioned", 90, storage="archive"))
        self.assertEqual(self.acted("ex", expire_archived), {})  # archived just now
        self.control("POST", "/_emulator/ecr/images/times",
                     {"repository": "ex", "digest": archived, "archived_at": time.time() - 100 * DAY})
        got = self.preview("ex", expire_archived)
        self.assertEqual([(r["imageDigest"], r["action"], r["storageClass"]) for r in got["previewResults"]],
                         [(archived, {"type": "EXPIRE"}, "ARCHIVE")])
        self.assertEqual(got["summary"], {"expiringImageTotalCount": 1})
        both = policy(rule(1, "tagged", "sinceImagePushed", 50, patterns=["v*"], action="transition"),
                      rule(2, "tagged", "sinceImageTransitioned", 90, patterns=["v*"], storage="archive"))
        got = self.preview("ex", both)
        self.assertEqual(got["summary"], {"expiringImageTotalCount": 1, "transitioningImageTotalCounts": [
            {"targetStorageClass": "ARCHIVE", "imageTotalCount": 2}]})

    def test_E17_children_kept_while_their_index_is_kept(self) -> None:
        """"If an image is referenced by a manifest list, it cannot be expired
        without the manifest list being deleted first": the untagged children of
        a kept index stay; once the index itself expires, so may they."""
        from selftest import index_manifest, sha  # noqa: PLC0415

        child = self.image_in("ex", "child", [], days_ago=30)
        loose = self.image_in("ex", "loose", [], days_ago=30)
        index = index_manifest([child])
        self.put("ex", index, "v1", imageDigest=sha(index))
        self.control("POST", "/_emulator/ecr/images/pushed-at",
                     {"repository": "ex", "digest": sha(index), "pushed_at": time.time() - 30 * DAY})
        untagged = policy(rule(1, "untagged", "sinceImagePushed", 7))
        self.assertEqual(self.acted("ex", untagged), {loose: (1, "EXPIRE")})
        everything = policy(rule(1, "any", "sinceImagePushed", 7))
        self.assertEqual(self.acted("ex", everything),
                         {loose: (1, "EXPIRE"), child: (1, "EXPIRE"), sha(index): (1, "EXPIRE")})
        archive_all = policy(rule(1, "any", "sinceImagePushed", 7, action="transition"))
        self.assertEqual(set(self.acted("ex", archive_all)), {loose, sha(index)})

    # -- E17 the API's shape ---------------------------------------------------

    def test_E17_preview_polling_paging_and_filters(self) -> None:
        digests = [self.image_in("ex", f"u{i}", [], days_ago=10 + i) for i in range(5)]
        tagged = self.image_in("ex", "t", ["old"], days_ago=50)
        text = policy(rule(1, "any", "sinceImagePushed", 5))
        self.ecr.put_lifecycle_policy(repositoryName="ex", lifecyclePolicyText=text)
        self.control("POST", "/_emulator/ecr/settings", {"preview_in_progress_reads": 2})
        started = self.ecr.start_lifecycle_policy_preview(repositoryName="ex")
        self.assertEqual((started["status"], started["lifecyclePolicyText"], started["registryId"]),
                         ("IN_PROGRESS", text, "123456789012"))
        with self.assertRaises(ClientError) as ctx:
            self.ecr.start_lifecycle_policy_preview(repositoryName="ex")
        self.assertEqual(self.error(ctx)[1], "LifecyclePolicyPreviewInProgressException")
        for _ in range(2):
            got = self.ecr.get_lifecycle_policy_preview(repositoryName="ex")
            self.assertEqual(got["status"], "IN_PROGRESS")
            self.assertNotIn("previewResults", got)
        first = self.ecr.get_lifecycle_policy_preview(repositoryName="ex", maxResults=4)
        self.assertEqual(first["status"], "COMPLETE")
        self.assertEqual(len(first["previewResults"]), 4)
        rest = self.ecr.get_lifecycle_policy_preview(repositoryName="ex", maxResults=4, nextToken=first["nextToken"])
        self.assertNotIn("nextToken", rest)
        seen = [r["imageDigest"] for r in first["previewResults"] + rest["previewResults"]]
        self.assertEqual(sorted(seen), sorted(digests + [tagged]))
        self.assertEqual(rest["summary"], {"expiringImageTotalCount": 6})
        only_tagged = self.ecr.get_lifecycle_policy_preview(repositoryName="ex", filter={"tagStatus": "TAGGED"})
        self.assertEqual([(r["imageDigest"], r["imageTags"]) for r in only_tagged["previewResults"]],
                         [(tagged, ["old"])])
        asked = self.ecr.get_lifecycle_policy_preview(repositoryName="ex", imageIds=[{"imageDigest": digests[0]}])
        self.assertEqual([r["imageDigest"] for r in asked["previewResults"]], [digests[0]])
        with self.assertRaises(ClientError) as ctx:  # 1-100 (service model); botocore checks only the minimum
            self.ecr.get_lifecycle_policy_preview(repositoryName="ex", maxResults=101)
        self.assertEqual(self.error(ctx)[1], "ValidationException")

    def test_E17_preview_errors(self) -> None:
        self.image_in("ex", "a", ["v1"])
        with self.assertRaises(ClientError) as ctx:
            self.ecr.start_lifecycle_policy_preview(repositoryName="ex")
        self.assertEqual(self.error(ctx)[1], "LifecyclePolicyNotFoundException")
        with self.assertRaises(ClientError) as ctx:
            self.ecr.get_lifecycle_policy_preview(repositoryName="ex")
        self.assertEqual(self.error(ctx)[1], "LifecyclePolicyPreviewNotFoundException")
        with self.assertRaises(ClientError) as ctx:
            self.ecr.start_lifecycle_policy_preview(repositoryName="absent")
        self.assertEqual(self.error(ctx)[1], "RepositoryNotFoundException")
        # A preview of a given text needs no policy on the repository and acts on nothing.
        got = self.preview("ex", policy(rule(1, "any", "imageCountMoreThan", 1)))
        self.assertEqual(got["previewResults"], [])
        self.assertEqual(got["summary"], {"expiringImageTotalCount": 0})

    def test_control_ecr_calls_and_reset(self) -> None:
        a = self.image_in("app", "a", ["v1"])
        self.image_in("other", "b", ["v1"])
        self.ecr.describe_images(repositoryName="app", imageIds=[{"imageDigest": a}])
        self.ecr.describe_images(repositoryName="other")
        self.preview("app", policy(rule(1, "any", "imageCountMoreThan", 1)))
        self.ecr.update_image_storage_class(repositoryName="app", imageId={"imageDigest": a},
                                            targetStorageClass="ARCHIVE")
        with self.assertRaises(ClientError):  # refused calls count too
            self.ecr.update_image_storage_class(repositoryName="app", imageId={"imageDigest": a},
                                                targetStorageClass="ARCHIVE")
        calls = self.control("GET", "/_emulator/ecr/calls")
        self.assertEqual((calls["DescribeImages"], calls["PutImage"], calls["StartLifecyclePolicyPreview"],
                          calls["GetLifecyclePolicyPreview"], calls["UpdateImageStorageClass"]), (2, 2, 1, 2, 2))
        self.assertEqual(calls["by_repository"]["app"]["DescribeImages"], 1)
        self.assertEqual(calls["by_repository"]["other"]["PutImage"], 1)
        self.control("POST", "/_emulator/ecr/settings", {"restore_seconds": 99, "preview_in_progress_reads": 0})
        self.control("POST", "/_emulator/reset")
        calls = self.control("GET", "/_emulator/ecr/calls")
        self.assertEqual((calls["DescribeImages"], calls["by_repository"]), (0, {}))
        a = self.image_in("app", "a", ["v1"])
        self.ecr.put_lifecycle_policy(repositoryName="app",
                                      lifecyclePolicyText=policy(rule(1, "any", "imageCountMoreThan", 1)))
        self.ecr.start_lifecycle_policy_preview(repositoryName="app")
        self.assertEqual(self.ecr.get_lifecycle_policy_preview(repositoryName="app")["status"], "IN_PROGRESS")

    # -- E18 retagging and deletion --------------------------------------------

    def test_E18_moved_tag_leaves_the_image_listed_untagged(self) -> None:
        old = self.image_in("app", "a", ["latest"])
        new = self.image_in("app", "b", ["latest"])
        details = {d["imageDigest"]: d for d in self.ecr.describe_images(repositoryName="app")["imageDetails"]}
        self.assertEqual(set(details), {old, new})
        self.assertNotIn("imageTags", details[old])
        untagged = self.ecr.describe_images(repositoryName="app", filter={"tagStatus": "UNTAGGED"})["imageDetails"]
        self.assertEqual([d["imageDigest"] for d in untagged], [old])

    def test_E18_batch_delete_image_of_the_last_tag_deletes_the_image(self) -> None:
        both = self.image_in("app", "a", ["v1", "lambda.fn.1"])
        one = self.image_in("app", "b", ["v2"])
        got = self.ecr.batch_delete_image(repositoryName="app", imageIds=[{"imageTag": "lambda.fn.1"}])
        self.assertEqual((got["imageIds"], got["failures"]), ([{"imageDigest": both, "imageTag": "lambda.fn.1"}], []))
        self.assertEqual(self.status("app", both)["imageTags"], ["v1"])
        self.ecr.batch_delete_image(repositoryName="app", imageIds=[{"imageTag": "v2"}])
        listed = [d["imageDigest"] for d in self.ecr.describe_images(repositoryName="app",
                                                                      filter={"imageStatus": "ANY"})["imageDetails"]]
        self.assertEqual(listed, [both])
        self.assertNotIn(one, listed)
        got = self.ecr.batch_delete_image(repositoryName="app", imageIds=[{"imageTag": "v2"}])
        self.assertEqual([f["failureCode"] for f in got["failures"]], ["ImageNotFound"])

    # -- L11 Lambda with its image gone ---------------------------------------

    def test_L11_function_whose_image_is_gone(self) -> None:
        from selftest import REGISTRY  # noqa: PLC0415

        a = self.image_in("app", "a", ["v1"])
        self.image_in("app", "b", ["v2"])
        self.create_function("fn", f"{REGISTRY}/app@{a}")
        self.lam.publish_version(FunctionName="fn")
        self.ecr.batch_delete_image(repositoryName="app", imageIds=[{"imageDigest": a}])
        # By default Lambda has not noticed yet ("later", FACTS): reads are unchanged.
        self.assertEqual(self.config("fn", "1")["State"], "Active")
        self.control("POST", "/_emulator/ecr/settings", {"lambda_notices_missing_images": True})
        for qualifier in (None, "1"):
            with self.subTest(qualifier=qualifier):
                config = self.config("fn", qualifier)
                self.assertEqual((config["State"], config["StateReasonCode"]), ("Failed", "ImageDeleted"))
                kw = {"Qualifier": qualifier} if qualifier else {}
                self.assertEqual(self.lam.get_function(FunctionName="fn", **kw)["Configuration"]["State"], "Failed")
        listed = self.lam.list_versions_by_function(FunctionName="fn")["Versions"]
        self.assertTrue(all("State" not in v for v in listed))  # L7: lists carry no state
        with self.assertRaises(ClientError) as ctx:
            self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2")
        status, code, message, _ = self.error(ctx)
        self.assertEqual((status, code, message),
                         (400, "InvalidParameterValueException", "The function is trying to use a deleted image."))

    def test_L11_function_whose_image_is_archived(self) -> None:
        from selftest import REGISTRY  # noqa: PLC0415

        self.control("POST", "/_emulator/ecr/settings",
                     {"lambda_notices_missing_images": True, "restore_seconds": 0})
        a = self.image_in("app", "a", ["v1"])
        self.create_function("fn", f"{REGISTRY}/app:v1")
        self.assertEqual(self.config("fn")["State"], "Active")
        self.ecr.update_image_storage_class(repositoryName="app", imageId={"imageDigest": a},
                                            targetStorageClass="ARCHIVE")
        config = self.config("fn")
        self.assertEqual((config["State"], config["StateReasonCode"]), ("Failed", "ImageDeleted"))
        self.ecr.update_image_storage_class(repositoryName="app", imageId={"imageDigest": a},
                                            targetStorageClass="STANDARD")
        self.assertEqual(self.config("fn")["State"], "Active")

    # -- L12 deleting versions, L13 DurableConfig -------------------------------

    def test_L12_delete_version(self) -> None:
        from selftest import REGISTRY  # noqa: PLC0415

        self.image_in("app", "a", ["v1"])
        self.image_in("app", "b", ["v2"])
        self.create_function("fn", f"{REGISTRY}/app:v1")
        self.lam.publish_version(FunctionName="fn")  # 1
        self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v2")
        time.sleep(0.5)
        self.lam.publish_version(FunctionName="fn")  # 2
        self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v1")
        time.sleep(0.5)
        self.lam.publish_version(FunctionName="fn")  # 3
        self.lam.create_alias(FunctionName="fn", Name="live", FunctionVersion="2",
                              RoutingConfig={"AdditionalVersionWeights": {"3": 0.1}})
        for version in ("2", "3"):
            with self.subTest(version=version):
                with self.assertRaises(ClientError) as ctx:
                    self.lam.delete_function(FunctionName="fn", Qualifier=version)
                status, code, message, _ = self.error(ctx)
                self.assertEqual((status, code, message), (409, "ResourceConflictException",
                                 "Unable to delete version because the following aliases reference it: [live]"))
        with self.assertRaises(ClientError) as ctx:
            self.lam.delete_function(FunctionName="fn", Qualifier="$LATEST")
        self.assertEqual(self.error(ctx)[:3], (400, "InvalidParameterValueException",
                                               "$LATEST version cannot be deleted without deleting the function."))
        with self.assertRaises(ClientError) as ctx:
            self.lam.delete_function(FunctionName="fn", Qualifier="9")
        self.assertEqual(self.error(ctx)[:2], (404, "ResourceNotFoundException"))
        self.lam.update_alias(FunctionName="fn", Name="live", FunctionVersion="2", RoutingConfig={"AdditionalVersionWeights": {}})
        self.lam.delete_function(FunctionName="fn", Qualifier="3")
        self.lam.delete_function(FunctionName=f"arn:aws:lambda:us-east-1:123456789012:function:fn:1")
        versions = [v["Version"] for v in self.lam.list_versions_by_function(FunctionName="fn")["Versions"]]
        self.assertEqual(versions, ["$LATEST", "2"])
        with self.assertRaises(ClientError) as ctx:
            self.config("fn", "3")
        self.assertEqual(self.error(ctx)[1], "ResourceNotFoundException")
        # Numbers are never reused: the next version is 4, not 3 (nor 2).
        self.lam.update_function_code(FunctionName="fn", ImageUri=f"{REGISTRY}/app:v1")
        time.sleep(0.5)
        self.assertEqual(self.lam.publish_version(FunctionName="fn")["Version"], "4")
        self.assertEqual(self.config("fn", "2")["Version"], "2")
        self.assertEqual(self.config("fn", "4")["Version"], "4")

    def test_L13_durable_config_stored_and_returned(self) -> None:
        from selftest import REGISTRY  # noqa: PLC0415

        self.image_in("app", "a", ["v1"])
        durable = {"RetentionPeriodInDays": 30, "ExecutionTimeout": 3600}
        self.create_function("fn", f"{REGISTRY}/app:v1", DurableConfig=durable)
        self.create_function("plain", f"{REGISTRY}/app:v1")
        self.assertEqual(self.config("fn")["DurableConfig"], durable)
        self.assertEqual(self.lam.publish_version(FunctionName="fn")["DurableConfig"], durable)
        self.assertEqual(self.lam.get_function(FunctionName="fn", Qualifier="1")["Configuration"]["DurableConfig"], durable)
        self.assertNotIn("DurableConfig", self.config("plain"))
