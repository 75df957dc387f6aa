"""IouTracker: ids that survive motion and short misses, new ids for new faces, coasting."""

from __future__ import annotations

import pytest

from streamer.faces.tracker import IouTracker, iou
from streamer.frame import Face


def face(x: float, y: float, size: float = 100.0, score: float = 0.9, kps: bool = False) -> Face:
    keypoints = ((x + 0.3 * size, y + 0.4 * size), (x + 0.7 * size, y + 0.4 * size)) if kps else None
    return Face(box=(x, y, x + size, y + size), score=score, keypoints=keypoints)


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_ids_stay_while_faces_move_and_new_faces_get_new_ids() -> None:
    tr = IouTracker()
    ids = []
    for i in range(20):
        out = tr.update([face(100 + 8 * i, 100), face(600 - 8 * i, 300)])
        ids.append(tuple(f.track_id for f in out))
    assert set(ids) == {(1, 2)}
    out = tr.update([face(100 + 8 * 20, 100), face(1000, 50), face(600 - 8 * 20, 300)])
    assert [f.track_id for f in out] == [1, 3, 2], "order of the input kept, the newcomer gets id 3"


def test_returns_the_given_faces_with_ids_only() -> None:
    tr = IouTracker()
    f = face(10, 20, kps=True, score=0.77)
    (out,) = tr.update([f])
    assert out.replace(track_id=None) == f and out.track_id == 1


def test_a_face_missed_briefly_keeps_its_id_and_a_long_gap_gets_a_new_one() -> None:
    tr = IouTracker(max_missed=3)
    assert tr.update([face(100, 100)])[0].track_id == 1
    for _ in range(3):
        assert tr.update([]) == []
    assert tr.update([face(102, 100)])[0].track_id == 1
    for _ in range(4):
        tr.update([])
    assert tr.track_ids == []
    assert tr.update([face(102, 100)])[0].track_id == 2


def test_matching_is_one_to_one_by_best_overlap() -> None:
    tr = IouTracker()
    tr.update([face(100, 100)])
    out = tr.update([face(130, 100), face(105, 100)])  # both overlap track 1; the closer wins
    assert [f.track_id for f in out] == [2, 1]


def test_predict_carries_faces_forward_at_their_velocity() -> None:
    tr = IouTracker()
    tr.update([face(100, 100, kps=True)])
    tr.update([face(110, 100, kps=True)])  # +10 px/frame, smoothed velocity 5 px/frame
    p1 = tr.predict()
    assert len(p1) == 1 and p1[0].track_id == 1
    assert p1[0].box[0] == pytest.approx(115.0) and p1[0].box[1] == pytest.approx(100.0)
    assert p1[0].keypoints is not None
    assert p1[0].keypoints[0][0] == pytest.approx(115 + 30) and p1[0].keypoints[1][1] == pytest.approx(140)
    p2 = tr.predict()
    assert p2[0].box[0] == pytest.approx(120.0)
    # the next detection, 3 frames after the last one: still the same track
    assert tr.update([face(140, 100)])[0].track_id == 1


def test_velocity_off_holds_boxes_still() -> None:
    tr = IouTracker(velocity=False)
    tr.update([face(100, 100)])
    tr.update([face(110, 100)])
    assert tr.predict()[0].box == (110.0, 100.0, 210.0, 200.0)


def test_predict_leaves_out_tracks_missed_at_the_last_detection() -> None:
    tr = IouTracker()
    tr.update([face(100, 100), face(500, 100)])
    tr.update([face(100, 100)])
    assert [f.track_id for f in tr.predict()] == [1]


def test_fast_motion_with_velocity_keeps_the_id_where_a_still_box_would_lose_it() -> None:
    # 20 px per frame with a 100 px face: detected on every frame for 6 frames (the velocity is
    # learned), then on every 3rd frame: 60 px jumps, IoU 0.25 with the last box
    def run(velocity: bool) -> set[int]:
        tr = IouTracker(velocity=velocity)
        ids = set()
        for i in range(40):
            if i < 6 or i % 3 == 0:
                ids |= {f.track_id for f in tr.update([face(20.0 * i, 0)])}
            else:
                tr.predict()
        return ids

    assert run(True) == {1}
    assert len(run(False)) > 5


def test_reset_and_bad_arguments() -> None:
    tr = IouTracker()
    tr.update([face(0, 0)])
    tr.reset()
    assert tr.predict() == [] and tr.update([face(0, 0)])[0].track_id == 2
    with pytest.raises(ValueError):
        IouTracker(iou_threshold=0)
    with pytest.raises(ValueError):
        IouTracker(max_missed=-1)
