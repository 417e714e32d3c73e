"""``aigenbench serve``'s application: scores equal predict's, every limit refuses with a 4xx
that says why, and the server keeps serving after each bad request."""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import pytest

from aigenbench.inference import score_files
from tests.serve.conftest import bomb_png, png_bytes


def predict_scores(exported, photos) -> list[float]:
    return [row.score for row in score_files(exported, photos, progress=False).rows]


def test_multipart_scores_equal_predict(client, exported, photos, detector):
    files = [("files", (p.name, p.read_bytes(), "image/png")) for p in photos]
    response = client.post("/score", files=files)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["detector_id"] == detector.detector_id
    assert [r["name"] for r in answer["results"]] == ["first.png", "second.jpg"]
    probabilities = [r["probability"] for r in answer["results"]]
    assert probabilities == pytest.approx(predict_scores(exported, photos), abs=1e-6)
    for result in answer["results"]:
        expected = "fake" if result["probability"] > detector.threshold else "real"
        assert result["label"] == expected and result["threshold"] == detector.threshold
        assert result["generator"] is None  # a binary detector


def test_raw_body_scores_one_image(client, exported, photos):
    response = client.post(
        "/score", content=photos[1].read_bytes(), headers={"content-type": "image/jpeg"}
    )
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["probability"] == pytest.approx(predict_scores(exported, photos[1:])[0], abs=1e-6)


def test_predict_command_scores_match_the_service(client, run_cli, exported, photos, tmp_path):
    out = tmp_path / "scores.csv"
    assert run_cli("predict", exported, *photos, "-o", out).exit_code == 0
    rows = {r["path"]: float(r["score"]) for r in csv.DictReader(io.StringIO(out.read_text()))}
    files = [("files", (p.name, p.read_bytes(), "image/png")) for p in photos]
    results = client.post("/score", files=files).json()["results"]
    for path, result in zip(photos, results, strict=True):
        assert result["probability"] == pytest.approx(rows[str(path)], abs=1e-6)


BAD_REQUESTS = {
    # name: (request kwargs, status, words of the answer)
    "not an image type": (
        {"files": [("files", ("notes.txt", b"hello", "text/plain"))]},
        415,
        ["notes.txt", "text/plain", "image/png"],
    ),
    "raw body of another type": (
        {"content": b"x=1", "headers": {"content-type": "application/x-www-form-urlencoded"}},
        415,
        ["request body", "not an image type"],
    ),
    "no image": ({"files": [("note", (None, b"hi"))]}, 400, ["no image in the request"]),
    "undecodable bytes": (
        {"files": [("files", ("fake.png", b"\x89PNG not really", "image/png"))]},
        422,
        ["fake.png", "not a readable image"],
    ),
    "truncated image": (
        {"files": [("files", ("cut.png", png_bytes(40, 40)[:300], "image/png"))]},
        422,
        ["cut.png", "not a readable image"],
    ),
    "decompression bomb": (
        {"files": [("files", ("bomb.png", bomb_png(), "image/png"))]},
        413,
        ["bomb.png", "decompression bomb", "--max-pixels"],
    ),
    "pixel count over the limit": (
        {"files": [("files", ("wide.png", bomb_png(1500), "image/png"))]},
        413,
        ["wide.png", "1500x1500", "at most 1,000,000 pixels", "--max-pixels"],
    ),
    "one image over the size limit": (
        {"files": [("files", ("big.png", b"\x89PNG" + bytes(250_000), "image/png"))]},
        413,
        ["big.png", "per-image limit", "--max-file-mb"],
    ),
    "request over the size limit": (
        {"content": bytes(700_000), "headers": {"content-type": "image/png"}},
        413,
        ["request body of 0.667572 MB is over the 0.572205 MB limit", "--max-request-mb"],
    ),
    "too many files": (
        {"files": [("files", (f"{i}.png", png_bytes(8, 8, i), "image/png")) for i in range(5)]},
        400,
        ["at most 4", "--max-files"],
    ),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_bad_requests_are_refused_and_the_server_keeps_serving(client, photos, name):
    kwargs, status, words = BAD_REQUESTS[name]
    response = client.post("/score", **kwargs)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    for word in words:
        assert word in detail, detail
    # Still serving: a valid image right after.
    ok = client.post("/score", files=[("files", ("a.png", photos[0].read_bytes(), "image/png"))])
    assert ok.status_code == 200 and len(ok.json()["results"]) == 1


def test_a_chunked_body_without_length_is_capped(client):
    def chunks():
        for _ in range(10):
            yield bytes(100_000)

    response = client.post("/score", content=chunks(), headers={"content-type": "image/png"})
    assert response.status_code == 413 and "--max-request-mb" in response.json()["detail"]


def test_health_page_and_openapi(client, detector):
    health = client.get("/health").json()
    assert health == {
        "status": "ok",
        "detector_id": detector.detector_id,
        "device": "cpu",
        "version": health["version"],
    }
    schema = client.get("/openapi.json").json()
    score = schema["paths"]["/score"]["post"]
    assert "multipart/form-data" in score["requestBody"]["content"]
    assert {"200", "413", "415", "422"} <= set(score["responses"])
    assert "ScoreResponse" in schema["components"]["schemas"]
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert detector.detector_id in page.text and 'type="file"' in page.text


def test_page_shows_the_card_headline_escaped(detector):
    from fastapi.testclient import TestClient

    from aigenbench.serve.app import create_app

    shown = SimpleNamespace(
        detector_id="<script>alert(1)</script>",
        threshold=0.5,
        card_headline={"next_auroc": 81.234, "whole_auroc": 90.0},
        device="cpu",
    )
    page = TestClient(create_app(shown)).get("/").text
    assert "<b>Next 81.23</b>" in page and "<b>Whole 90.00</b>" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)" in page


def test_threshold_by_name_or_number(detector):
    from aigenbench.commands.serve import resolve_threshold
    from aigenbench.errors import ConfigError

    assert resolve_threshold(None, detector) is None
    assert resolve_threshold("0.5", detector) == 0.5
    name = next(iter(detector.thresholds))
    assert resolve_threshold(name, detector) == detector.thresholds[name]
    with pytest.raises(ConfigError, match="neither a number nor one of"):
        resolve_threshold("best_f2", detector)
    with pytest.raises(ConfigError, match="not a probability"):
        resolve_threshold("1.5", detector)
