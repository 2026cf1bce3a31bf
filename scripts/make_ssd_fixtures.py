"""Golden fixtures for the MultiBox loss tests (spec/ssd/loss.spec.ts) and the matching tests
(spec/ssd/matching.spec.ts), computed by PyTorch.

Also writes spec/fixtures/matching.json: the tutorial's matching alone, in float64 on the real
8732 priors, for images built to hit its corner cases: a thin box whose best overlap is below 0.5
(only the forced match gives it a prior), two objects with the same best prior (the later one
wins), and two identical boxes (every overlap an exact tie: each prior takes the first object,
the forced prior goes to the second). For each prior it stores the matched object and the
overlap (1.0 for the forced ones); float64 because then our arithmetic and PyTorch's are the same
IEEE operations in the same order, so even exact ties must come out the same.

Writes spec/fixtures/multibox.json: one batch of 2 images with hand-written ground-truth boxes,
the real 8732 SSD300 priors (the numerics contract (docs/numerics.md), recomputed here), 4 classes, and seeded random
predictions (torch.manual_seed) rounded to 2 decimals, so that the JSON holds them exactly and
both sides read the very same numbers. The loss is the reference tutorial's MultiBoxLoss
(sgrvinod/a-PyTorch-Tutorial-to-Object-Detection, model.py) as docs/numerics.md defines it: its matching
and its per-image hard negative mining unchanged, but F.smooth_l1_loss where the tutorial has
nn.L1Loss (a bug, see STYLE.md).

It is computed twice, from the same decimal inputs:
  float32  what training does (priors, boxes, predictions all float32), and
  float64  the same in double precision, which our float64 path must match to ~1e-12.
For each: loss, loc_loss, conf_loss, the matched positives (labels and encoded targets), the
mined hard negatives, and the autograd gradients of the loss with respect to the predictions.
The gradients are zero outside the positives (locs) and positives plus mined negatives (scores),
so only those rows are stored; the test checks that every other row is exactly zero.

The script refuses to write a fixture whose answer hangs on a rounding: no overlap near the 0.5
threshold, no near-tie between two objects or two priors in the matching, no near-tie at the
hard-negative cut, no smooth L1 difference near the kink at |x| = 1. Then float32 PyTorch and our
float64-internal computation must agree on every discrete decision.

Rerun by hand (the output is committed) with the Debian PyTorch, not the pyenv python3 on PATH:
    /usr/bin/python3 scripts/make_ssd_fixtures.py
The output is deterministic for a given torch version.
"""

import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_num_threads(1)  # the same summation order on every run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "spec", "fixtures", "multibox.json")
OUT_MATCHING = os.path.join(ROOT, "spec", "fixtures", "matching.json")

SEED = 0
N_CLASSES = 4  # background + 3
THRESHOLD = 0.5
NEG_POS_RATIO = 3
ALPHA = 1.0

# Ground truth, boundary coordinates (x_min, y_min, x_max, y_max), fractions of the image.
# Boxes of several sizes and shapes; image 0's third box is thin (aspect ~0.14), so that its best
# overlap is below 0.5 and only the forced match gives it a prior.
BOXES = [
    [[0.104, 0.213, 0.462, 0.655], [0.517, 0.088, 0.893, 0.411], [0.379, 0.31, 0.43, 0.669]],
    [[0.231, 0.317, 0.786, 0.902], [0.052, 0.045, 0.168, 0.171]],
]
LABELS = [[1, 3, 2], [2, 1]]

# The margins the discrete decisions must clear (see the docstring).
MIN_GAP_OVERLAP = 1e-5
MIN_GAP_CE = 1e-4
MIN_GAP_KINK = 1e-4


# ---------------------------------------------------------------------------------------------
# Priors and box utilities, as the tutorial writes them


def create_priors():
    """(8732, 4) priors (cx, cy, w, h) as Python doubles, clamped to [0, 1]: the numerics contract (docs/numerics.md)."""
    fmap_dims = [38, 19, 10, 5, 3, 1]
    scales = [0.1, 0.2, 0.375, 0.55, 0.725, 0.9]
    ratios = [[1.0, 2.0, 0.5], [1.0, 2.0, 3.0, 0.5, 0.333], [1.0, 2.0, 3.0, 0.5, 0.333],
              [1.0, 2.0, 3.0, 0.5, 0.333], [1.0, 2.0, 0.5], [1.0, 2.0, 0.5]]
    priors = []
    for k, dim in enumerate(fmap_dims):
        for i in range(dim):
            for j in range(dim):
                cx = (j + 0.5) / dim
                cy = (i + 0.5) / dim
                for r in ratios[k]:
                    priors.append([cx, cy, scales[k] * math.sqrt(r), scales[k] / math.sqrt(r)])
                    if r == 1.0:
                        extra = math.sqrt(scales[k] * scales[k + 1]) if k + 1 < len(scales) else 1.0
                        priors.append([cx, cy, extra, extra])
    assert len(priors) == 8732
    return [[min(max(v, 0.0), 1.0) for v in p] for p in priors]


def xy_to_cxcy(xy):
    return torch.cat([(xy[:, 2:] + xy[:, :2]) / 2, xy[:, 2:] - xy[:, :2]], 1)


def cxcy_to_xy(cxcy):
    return torch.cat([cxcy[:, :2] - (cxcy[:, 2:] / 2), cxcy[:, :2] + (cxcy[:, 2:] / 2)], 1)


def cxcy_to_gcxgcy(cxcy, priors_cxcy):
    return torch.cat([(cxcy[:, :2] - priors_cxcy[:, :2]) / (priors_cxcy[:, 2:] / 10),
                      torch.log(cxcy[:, 2:] / priors_cxcy[:, 2:]) * 5], 1)


def find_jaccard_overlap(set_1, set_2):
    lower = torch.max(set_1[:, :2].unsqueeze(1), set_2[:, :2].unsqueeze(0))
    upper = torch.min(set_1[:, 2:].unsqueeze(1), set_2[:, 2:].unsqueeze(0))
    dims = torch.clamp(upper - lower, min=0)
    intersection = dims[:, :, 0] * dims[:, :, 1]
    areas_1 = (set_1[:, 2] - set_1[:, 0]) * (set_1[:, 3] - set_1[:, 1])
    areas_2 = (set_2[:, 2] - set_2[:, 0]) * (set_2[:, 3] - set_2[:, 1])
    union = areas_1.unsqueeze(1) + areas_2.unsqueeze(0) - intersection
    return intersection / union


# ---------------------------------------------------------------------------------------------
# The tutorial's MultiBoxLoss.forward, with smooth L1


def multibox_loss(pred_locs, pred_scores, boxes, labels, priors_cxcy, checks=True):
    """The loss and what it decided. checks=True (the fixtures) also asserts that no decision hangs
    on a rounding (see the docstring at the top) and returns the mined negatives as a mask; training
    (scripts/torch_train.py) passes checks=False: real data has such near-ties, and the mask costs time."""
    batch_size, n_priors, n_classes = pred_scores.shape
    priors_xy = cxcy_to_xy(priors_cxcy)
    true_locs = torch.zeros((batch_size, n_priors, 4), dtype=pred_locs.dtype)
    true_classes = torch.zeros((batch_size, n_priors), dtype=torch.long)
    for i in range(batch_size):
        n_objects = boxes[i].size(0)
        overlap = find_jaccard_overlap(boxes[i], priors_xy)  # (n_objects, 8732)
        if checks:
            check_matching_margins(overlap, i)
        overlap_for_each_prior, object_for_each_prior = overlap.max(dim=0)  # (8732)
        _, prior_for_each_object = overlap.max(dim=1)  # (n_objects)
        object_for_each_prior[prior_for_each_object] = torch.arange(n_objects)
        overlap_for_each_prior[prior_for_each_object] = 1.0
        label_for_each_prior = labels[i][object_for_each_prior]  # (8732)
        label_for_each_prior[overlap_for_each_prior < THRESHOLD] = 0
        true_classes[i] = label_for_each_prior
        true_locs[i] = cxcy_to_gcxgcy(xy_to_cxcy(boxes[i][object_for_each_prior]), priors_cxcy)

    positive_priors = true_classes != 0  # (N, 8732)
    loc_loss = F.smooth_l1_loss(pred_locs[positive_priors], true_locs[positive_priors])  # beta 1, mean over n_pos*4

    n_positives = positive_priors.sum(dim=1)  # (N)
    n_hard_negatives = NEG_POS_RATIO * n_positives  # (N)
    conf_loss_all = F.cross_entropy(pred_scores.view(-1, n_classes), true_classes.view(-1), reduction="none")
    conf_loss_all = conf_loss_all.view(batch_size, n_priors)  # (N, 8732)
    conf_loss_pos = conf_loss_all[positive_priors]
    conf_loss_neg = conf_loss_all.clone()
    conf_loss_neg[positive_priors] = 0.0
    conf_loss_neg, order = conf_loss_neg.sort(dim=1, descending=True)
    hardness_ranks = torch.arange(n_priors).unsqueeze(0).expand_as(conf_loss_neg)
    hard_negatives = hardness_ranks < n_hard_negatives.unsqueeze(1)  # (N, 8732), in sorted order
    conf_loss_hard_neg = conf_loss_neg[hard_negatives]
    conf_loss = (conf_loss_hard_neg.sum() + conf_loss_pos.sum()) / n_positives.sum().float()
    loss = conf_loss + ALPHA * loc_loss
    if not checks:
        return {"loss": loss, "loc_loss": loc_loss, "conf_loss": conf_loss, "n_positives": n_positives}

    # The mined negatives as a mask in prior order (for the fixture, not for the loss).
    mined = torch.zeros((batch_size, n_priors), dtype=torch.bool)
    for i in range(batch_size):
        picked = order[i][hard_negatives[i]]
        mined[i][picked] = True
    mined &= ~positive_priors  # with fewer negatives than 3*n_pos, zeroed positives fill the top ranks
    check_cut_margin(conf_loss_all.detach(), positive_priors, n_hard_negatives)
    diff = (pred_locs - true_locs).detach()[positive_priors]
    assert ((diff.abs() - 1).abs() > MIN_GAP_KINK).all(), "a smooth L1 difference sits at the kink |x| = 1"
    return {
        "loss": loss, "loc_loss": loc_loss, "conf_loss": conf_loss,
        "n_positives": n_positives, "true_locs": true_locs, "true_classes": true_classes,
        "positives": positive_priors, "mined": mined,
    }


def check_matching_margins(overlap, image):
    """No decision of the matching may hang on a rounding of the overlaps."""
    o = overlap.double()
    n_objects = o.size(0)
    best, _ = o.max(dim=0)
    assert ((best - THRESHOLD).abs() > MIN_GAP_OVERLAP).all(), f"image {image}: an overlap is too close to {THRESHOLD}"
    if n_objects > 1:
        top2, _ = o.topk(2, dim=0)  # best and second-best object of every prior
        near = (top2[0] - top2[1]) <= MIN_GAP_OVERLAP
        assert not (near & (top2[0] >= THRESHOLD)).any(), f"image {image}: a prior is torn between two objects"
    # A small box inside several priors of one shape has exactly equal overlaps with all of them
    # (its own area over theirs): the boxes above are chosen so that no object's best is such a tie.
    top2, idx = o.topk(2, dim=1)  # best and second-best prior of every object
    assert ((top2[:, 0] - top2[:, 1]) > MIN_GAP_OVERLAP).all(), f"image {image}: an object has two best priors"
    assert len(set(idx[:, 0].tolist())) == n_objects, f"image {image}: two objects share a best prior"


def check_cut_margin(ce, positives, n_hard):
    for i in range(ce.size(0)):
        neg = ce[i][~positives[i]].double().sort(descending=True).values
        k = int(n_hard[i])
        if k < neg.numel():
            assert neg[k - 1] - neg[k] > MIN_GAP_CE, f"image {i}: a near-tie at the hard-negative cut"


# ---------------------------------------------------------------------------------------------
# Running it and writing the fixture


def run(dtype, locs_values, scores_values, priors_values, shape):
    priors = torch.tensor(priors_values, dtype=dtype)
    pred_locs = torch.tensor(locs_values, dtype=dtype).view(shape[0], shape[1], 4).requires_grad_()
    pred_scores = torch.tensor(scores_values, dtype=dtype).view(shape).requires_grad_()
    boxes = [torch.tensor(b, dtype=dtype) for b in BOXES]
    labels = [torch.tensor(lab, dtype=torch.long) for lab in LABELS]
    out = multibox_loss(pred_locs, pred_scores, boxes, labels, priors)
    out["loss"].backward()

    positives = out["positives"]
    pos_rows = positives.flatten().nonzero().flatten()
    score_rows = (positives | out["mined"]).flatten().nonzero().flatten()
    d_locs = pred_locs.grad.view(-1, 4)
    d_scores = pred_scores.grad.view(-1, shape[2])
    # The gradient must vanish outside those rows; that is what lets us store only them.
    rest = torch.ones(d_locs.size(0), dtype=torch.bool)
    rest[pos_rows] = False
    assert (d_locs[rest] == 0).all()
    rest = torch.ones(d_scores.size(0), dtype=torch.bool)
    rest[score_rows] = False
    assert (d_scores[rest] == 0).all()

    flat = lambda x: [float(v) for v in x.flatten().tolist()]  # noqa: E731
    return {
        "loss": float(out["loss"]),
        "loc_loss": float(out["loc_loss"]),
        "conf_loss": float(out["conf_loss"]),
        "n_positives": [int(v) for v in out["n_positives"].tolist()],
        "positive_rows": [int(v) for v in pos_rows.tolist()],
        "positive_labels": [int(v) for v in out["true_classes"].flatten()[pos_rows].tolist()],
        "positive_true_locs": flat(out["true_locs"].view(-1, 4)[pos_rows]),
        "hard_negative_rows": [int(v) for v in out["mined"].flatten().nonzero().flatten().tolist()],
        "d_locs": {"rows": [int(v) for v in pos_rows.tolist()], "data": flat(d_locs[pos_rows])},
        "d_scores": {"rows": [int(v) for v in score_rows.tolist()], "data": flat(d_scores[score_rows])},
    }


def main():
    priors_values = create_priors()
    n_images, n_priors = len(BOXES), len(priors_values)
    shape = (n_images, n_priors, N_CLASSES)

    # Predictions: seeded normal numbers rounded to 2 decimals, kept as the doubles k / 100 that
    # JSON writes and reads back exactly.
    torch.manual_seed(SEED)
    locs_int = torch.round(torch.randn(n_images * n_priors * 4, dtype=torch.float64) * 100).long()
    scores_int = torch.round(torch.randn(n_images * n_priors * N_CLASSES, dtype=torch.float64) * 150).long()
    locs_values = [v / 100 for v in locs_int.tolist()]
    scores_values = [v / 100 for v in scores_int.tolist()]

    results = {name: run(dtype, locs_values, scores_values, priors_values, shape)
               for name, dtype in (("float32", torch.float32), ("float64", torch.float64))}
    # Both precisions must make the same discrete decisions.
    for key in ("positive_rows", "positive_labels", "hard_negative_rows"):
        assert results["float32"][key] == results["float64"][key], key

    priors32 = torch.tensor(priors_values, dtype=torch.float32).double()
    fixture = {
        "about": "made by scripts/make_ssd_fixtures.py; the tutorial's MultiBoxLoss with smooth L1, PyTorch " + torch.__version__,
        "seed": SEED,
        "n_classes": N_CLASSES,
        "threshold": THRESHOLD,
        "neg_pos_ratio": NEG_POS_RATIO,
        "alpha": ALPHA,
        "n_priors": n_priors,
        # Sums of each column of the float32 priors, to check both sides use the same priors.
        "priors_column_sums": [float(v) for v in priors32.sum(dim=0).tolist()],
        "boxes": BOXES,
        "labels": LABELS,
        "pred_locs": {"shape": [n_images, n_priors, 4], "data": locs_values},
        "pred_scores": {"shape": list(shape), "data": scores_values},
        "float32": results["float32"],
        "float64": results["float64"],
    }
    with open(OUT, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    r = results["float32"]
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes): loss {r['loss']:.6f} (loc {r['loc_loss']:.6f}, "
          f"conf {r['conf_loss']:.6f}), positives {r['n_positives']}, mined {len(r['hard_negative_rows'])}")


# ---------------------------------------------------------------------------------------------
# The matching alone (spec/fixtures/matching.json)

# conv4_3 cell (10, 20): its ratio-1 prior (index 1600) is the 0.1 x 0.1 square at this centre.
_CX, _CY = 20.5 / 38, 10.5 / 38
MATCHING_IMAGES = [
    {   # a thin box, forced onto a prior it overlaps by less than 0.5, beside an ordinary box
        "why": "thin box: forced match below the threshold",
        "boxes": [[0.379, 0.31, 0.43, 0.669], [0.104, 0.213, 0.462, 0.655]],
        "labels": [2, 1],
    },
    {   # b sits inside a, and both have prior 1600 as their best: the later one in the list wins it
        "why": "two objects with the same best prior: the later wins",
        "boxes": [[_CX - 0.05, _CY - 0.05, _CX + 0.05, _CY + 0.05], [_CX - 0.045, _CY - 0.045, _CX + 0.045, _CY + 0.045]],
        "labels": [1, 3],
    },
    {   # the same box twice: every prior's overlaps tie (first object), and the forced prior goes to the second
        "why": "two identical boxes: exact ties",
        "boxes": [[0.3, 0.25, 0.7, 0.8], [0.3, 0.25, 0.7, 0.8], [0.05, 0.6, 0.25, 0.95]],
        "labels": [1, 2, 3],
    },
]


def match(boxes, priors_cxcy):
    """The tutorial's matching (MultiBoxLoss.forward, one image): object and overlap of each prior."""
    n_objects = boxes.size(0)
    overlap = find_jaccard_overlap(boxes, cxcy_to_xy(priors_cxcy))  # (n_objects, 8732)
    overlap_for_each_prior, object_for_each_prior = overlap.max(dim=0)  # (8732)
    _, prior_for_each_object = overlap.max(dim=1)  # (n_objects)
    object_for_each_prior[prior_for_each_object] = torch.arange(n_objects)
    overlap_for_each_prior[prior_for_each_object] = 1.0
    return object_for_each_prior, overlap_for_each_prior, prior_for_each_object


def make_matching_fixture():
    priors = torch.tensor(create_priors(), dtype=torch.float64)
    images = []
    for image in MATCHING_IMAGES:
        boxes = torch.tensor(image["boxes"], dtype=torch.float64)
        labels = torch.tensor(image["labels"], dtype=torch.long)
        obj, ovl, prior_for_object = match(boxes, priors)
        classes = labels[obj]
        classes[ovl < THRESHOLD] = 0
        nonzero = (ovl > 0).nonzero().flatten()
        images.append({
            "why": image["why"],
            "boxes": image["boxes"],
            "labels": image["labels"],
            "object_for_prior": [int(v) for v in obj.tolist()],
            # only the priors that touch an object: the rest have overlap 0
            "overlap_for_prior": {"rows": [int(v) for v in nonzero.tolist()], "data": [float(v) for v in ovl[nonzero].tolist()]},
            "prior_for_object": [int(v) for v in prior_for_object.tolist()],
            "n_positives": int((classes != 0).sum()),
            "positive_rows": [int(v) for v in (classes != 0).nonzero().flatten().tolist()],
        })
    fixture = {
        "about": "made by scripts/make_ssd_fixtures.py; the tutorial's matching in float64, PyTorch " + torch.__version__,
        "threshold": THRESHOLD,
        "images": images,
    }
    with open(OUT_MATCHING, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT_MATCHING} ({os.path.getsize(OUT_MATCHING)} bytes): "
          + ", ".join(f"{im['n_positives']} positives, forced {im['prior_for_object']}" for im in images))


if __name__ == "__main__":
    main()
    make_matching_fixture()
