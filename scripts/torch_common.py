"""What scripts/torch_train.py and scripts/torch_train_speed.py share: the PyTorch side of the
project's yardstick (Debian's PyTorch 1.13, /usr/bin/python3, CPU).

- The model: SSD300BN from make_batchnorm_fixtures.py (the PyTorch twin of the project's batch-norm
  model, same state_dict names), initialised as the project initialises `ssd train --batch-norm`
  (base init 'kaiming', the CLI's default): VGG convs Kaiming normal, fan-out (std sqrt(2 / (C_out
  k k)), layers/init.ts kaimingNormalFanOut), zero bias; auxiliary convs Xavier uniform, zero bias;
  prediction convs Xavier uniform (ssd/prediction_convs.ts) or, with head_init='normal', normal
  with std 0.01 (the tutorial's and torchvision's SSD heads), zero bias; batch norms weight 1,
  bias 0; the conv4_3 rescale factors 20.
- SGD as ssd/train_step.ts ssdOptimizer: momentum 0.9, weight decay 5e-4 on every parameter,
  parameters named '*.bias' (batch norm biases too) at twice the learning rate.
- The data: a Pascal VOC layout read as data/voc.ts reads it (1-based inclusive pixel boxes ->
  boundary fractions: x1 = (xmin - 1) / W, x2 = xmax / W), classes sorted with 'background' first
  (data/voc.ts readVocClassNames); the SSD augmentations of the tutorial (sgrvinod,
  a-PyTorch-Tutorial-to-Object-Detection, utils.py transform) as data/augment.ts has them; resize to
  300x300 (PIL's bilinear, which antialiases when shrinking: the project's resizeBilinear does not);
  the ImageNet normalisation of data/image_tensor.ts.
- Weights files: read_safetensors / read_safetensors_file and write_safetensors, safetensors without
  the `safetensors` package (scripts/torch_roundtrip.py, docs/pytorch.md).
- The loss: make_ssd_fixtures.multibox_loss (the tutorial's MultiBoxLoss with smooth L1) without
  its fixture checks.
- Detection as ssd/detect.ts (softmax, decode, per class score > 0.01, greedy NMS at IoU 0.45,
  the 200 best over all classes) and VOC07 11-point AP as ssd/evaluate.ts (IoU > 0.5, difficult
  objects ignored, duplicates false positives, mAP over the classes that have objects).

Importing this sets nothing: each script calls set_threads (Debian's torch starts with 1 thread).
"""

import json
import math
import os
import random
import sys
import xml.etree.ElementTree as ET

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_ssd_fixtures as ssd_fixtures  # noqa: E402  (priors, box utilities, the MultiBox loss)
from make_batchnorm_fixtures import SSD300BN  # noqa: E402  (the twin of the project's batch-norm model)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SIZE = 300


def write_json(path, report):
    """A report as indented JSON, and a line saying where it went."""
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(f"wrote {path}")


def set_threads(n):
    """Use n threads for PyTorch's kernels (the fixture modules set 1 when imported) and say so."""
    torch.set_num_threads(n)
    print(f"torch {torch.__version__}: {torch.get_num_threads()} threads (torch.set_num_threads({n}))", flush=True)
    return torch.get_num_threads()


# ---------------------------------------------------------------------------------------------
# The model and the optimizer


def make_model(n_classes, width_divisor, head_init="xavier"):
    """SSD300BN initialised as the project's `ssd train --batch-norm` initialises its model (seed with torch.manual_seed first)."""
    model = SSD300BN(n_classes, width_divisor)
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.Conv2d):
                if name.startswith("base."):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif name.startswith("pred_convs.") and head_init == "normal":
                    nn.init.normal_(m.weight, 0.0, 0.01)
                elif head_init in ("xavier", "normal"):
                    nn.init.xavier_uniform_(m.weight)
                else:
                    raise ValueError(f"head_init must be xavier or normal, got {head_init!r}")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        model.rescale_factors.fill_(20.0)
    return model


def read_safetensors(path):
    """The tensors of a safetensors file (the project's checkpoints and weights), by name; the
    optimizer's momentum ('optimizer.*') left out. num_batches_tracked comes back as int64."""
    import json
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
    out = {}
    for name, v in header.items():
        if name == "__metadata__" or name.startswith("optimizer."):
            continue
        a, b = v["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=dtypes[v["dtype"]]).reshape(v["shape"]).clone()
        out[name] = t.long() if name.endswith("num_batches_tracked") else t
    return out


SAFETENSORS_DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}


def read_safetensors_file(path):
    """(tensors, metadata) of a safetensors file: every tensor by name, in its stored dtype
    (F32, F64 or I64), the optimizer's 'optimizer.*' included; metadata a dict of strings."""
    import json
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, v in header.items():
        a, b = v["data_offsets"]
        tensors[name] = torch.frombuffer(bytearray(data[a:b]), dtype=SAFETENSORS_DTYPES[v["dtype"]]).reshape(v["shape"]).clone()
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """Write tensors (a state_dict) as safetensors, each in its own dtype (float32 F32, float64 F64,
    int64 I64: num_batches_tracked), with string metadata, as safetensors.torch.save_file does:
    names sorted, little-endian, the header padded with spaces to 8 bytes."""
    import json
    import struct
    names = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}} if metadata else {}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype not in names:
            raise ValueError(f"{name}: dtype {t.dtype} (write float32, float64 or int64)")
        blob = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def make_optimizer(model, lr):
    """SGD, momentum 0.9, weight decay 5e-4; '*.bias' at twice the rate (each group's 'lr_mult')."""
    biases = [p for n, p in model.named_parameters() if n.endswith(".bias")]
    others = [p for n, p in model.named_parameters() if not n.endswith(".bias")]
    return torch.optim.SGD([{"params": others, "lr_mult": 1.0}, {"params": biases, "lr_mult": 2.0}],
                           lr=lr, momentum=0.9, weight_decay=5e-4)


def set_lr(optimizer, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_mult"]


def priors_cxcy():
    return torch.tensor(ssd_fixtures.create_priors(), dtype=torch.float32)  # (8732, 4)


def loss_of(model, images, boxes, labels, priors):
    locs, scores = model(images)  # (N, 8732, 4), (N, 8732, n_classes)
    return ssd_fixtures.multibox_loss(locs, scores, boxes, labels, priors, checks=False)


# ---------------------------------------------------------------------------------------------
# The data set


def read_split(root, split):
    path = os.path.join(root, "ImageSets", "Main", f"{split}.txt")
    with open(path) as f:
        ids = [line.split()[0] for line in f if line.strip()]
    if not ids:
        raise ValueError(f"{path}: no image ids")
    return ids


def class_names(root, split):
    """['background'] + the sorted names in the split's annotations (data/voc.ts readVocClassNames)."""
    names = set()
    for image_id in read_split(root, split):
        for obj in ET.parse(os.path.join(root, "Annotations", f"{image_id}.xml")).getroot().findall("object"):
            names.add(obj.find("name").text.strip())
    return ["background"] + sorted(names)


def read_voc(root, split, classes):
    """The split's samples: image path, size, boxes (boundary fractions, float32 (n, 4)), labels, difficult."""
    samples = []
    for image_id in read_split(root, split):
        ann = ET.parse(os.path.join(root, "Annotations", f"{image_id}.xml")).getroot()
        width = int(ann.find("size/width").text)
        height = int(ann.find("size/height").text)
        boxes, labels, difficult = [], [], []
        for obj in ann.findall("object"):
            b = obj.find("bndbox")
            xmin, ymin, xmax, ymax = (float(b.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
            xmin, ymin, xmax, ymax = max(xmin, 1), max(ymin, 1), min(xmax, width), min(ymax, height)  # as voc.ts clamps
            boxes.append([(xmin - 1) / width, (ymin - 1) / height, xmax / width, ymax / height])
            labels.append(classes.index(obj.find("name").text.strip()))
            d = obj.find("difficult")
            difficult.append(d is not None and d.text.strip() == "1")
        image = os.path.join(root, "JPEGImages", f"{image_id}.jpg")
        if not os.path.exists(image):
            image = os.path.join(root, "JPEGImages", f"{image_id}.png")
        samples.append({"id": image_id, "image": image, "width": width, "height": height,
                        "boxes": torch.tensor(boxes, dtype=torch.float32).view(-1, 4),
                        "labels": torch.tensor(labels, dtype=torch.long), "difficult": torch.tensor(difficult, dtype=torch.bool)})
    return samples


# ---------------------------------------------------------------------------------------------
# The SSD augmentations (the tutorial's transform; geometric steps on the PIL image, photometric
# ones on the 300x300 tensor, which gives the same distribution of pictures for less work)


def random_crop(width, height, boxes_px, labels):
    """The tutorial's random_crop: a crop rectangle (left, top, right, bottom) and the objects kept, or None for the whole image."""
    while True:
        min_overlap = random.choice([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, None])
        if min_overlap is None:
            return None
        for _ in range(50):
            new_w = int(random.uniform(0.3, 1) * width)
            new_h = int(random.uniform(0.3, 1) * height)
            if new_w < 1 or new_h < 1 or not 0.5 < new_h / new_w < 2:
                continue
            left = random.randint(0, width - new_w)
            top = random.randint(0, height - new_h)
            crop = torch.tensor([[left, top, left + new_w, top + new_h]], dtype=torch.float32)
            overlap = ssd_fixtures.find_jaccard_overlap(crop, boxes_px)[0]
            if overlap.max().item() < min_overlap:
                continue
            centres = (boxes_px[:, :2] + boxes_px[:, 2:]) / 2
            inside = (centres[:, 0] > left) & (centres[:, 0] < left + new_w) & (centres[:, 1] > top) & (centres[:, 1] < top + new_h)
            if not inside.any():
                continue
            kept = boxes_px[inside].clone()
            kept[:, :2] = torch.max(kept[:, :2], crop[0, :2]) - crop[0, :2]
            kept[:, 2:] = torch.min(kept[:, 2:], crop[0, 2:]) - crop[0, :2]
            return (left, top, left + new_w, top + new_h), kept, labels[inside]


def rgb_to_hsv(img):
    r, g, b = img
    maxc, _ = img.max(0)
    minc, _ = img.min(0)
    delta = maxc - minc
    s = torch.where(maxc > 0, delta / maxc.clamp(min=1e-12), torch.zeros_like(maxc))
    safe = delta.clamp(min=1e-12)
    h = torch.where(maxc == r, ((g - b) / safe) % 6, torch.where(maxc == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6
    h = torch.where(delta > 0, h, torch.zeros_like(h))
    return h, s, maxc


def hsv_to_rgb(h, s, v):
    i = torch.floor(h * 6) % 6
    f = h * 6 - torch.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = torch.zeros((3,) + h.shape)
    for k, (r, g, b) in enumerate(table):
        m = i == k
        out[0][m], out[1][m], out[2][m] = r[m], g[m], b[m]
    return out


def photometric_distort(img):
    """The tutorial's photometric_distort on RGB in [0, 1]: brightness, contrast, saturation, hue in a random order, each with p = 1/2."""
    def grey(x):
        return (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0)

    steps = ["brightness", "contrast", "saturation", "hue"]
    random.shuffle(steps)
    for step in steps:
        if random.random() >= 0.5:
            continue
        if step == "hue":
            h, s, v = rgb_to_hsv(img)
            img = hsv_to_rgb((h + random.uniform(-18 / 255, 18 / 255)) % 1.0, s, v)
        else:
            f = random.uniform(0.5, 1.5)
            if step == "brightness":
                img = img * f
            elif step == "contrast":
                m = grey(img).mean()
                img = (img - m) * f + m
            else:
                g = grey(img)
                img = (img - g) * f + g
        img = img.clamp(0, 1)
    return img


class SSDTransform:
    """One training (augment=True) or evaluation sample: PIL image and boxes -> (3, 300, 300) normalised, boxes (fractions), labels."""

    def __init__(self, augment, crop=True, flip=True, zoom_out=False, photometric=False):
        self.augment, self.crop, self.flip, self.zoom_out, self.photometric = augment, crop, flip, zoom_out, photometric

    def __call__(self, img, boxes, labels):
        if self.augment:
            W, H = img.size
            boxes_px = boxes * torch.tensor([W, H, W, H], dtype=torch.float32)
            if self.zoom_out and random.random() < 0.5:
                scale = random.uniform(1, 4)
                new_w, new_h = int(scale * W), int(scale * H)
                left, top = random.randint(0, new_w - W), random.randint(0, new_h - H)
                canvas = Image.new("RGB", (new_w, new_h), tuple(int(round(m * 255)) for m in IMAGENET_MEAN))
                canvas.paste(img, (left, top))
                img, W, H = canvas, new_w, new_h
                boxes_px = boxes_px + torch.tensor([left, top, left, top], dtype=torch.float32)
            if self.crop:
                cut = random_crop(W, H, boxes_px, labels)
                if cut is not None:
                    rect, boxes_px, labels = cut
                    img = img.crop(rect)
                    W, H = rect[2] - rect[0], rect[3] - rect[1]
            if self.flip and random.random() < 0.5:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
                boxes_px = torch.stack([W - boxes_px[:, 2], boxes_px[:, 1], W - boxes_px[:, 0], boxes_px[:, 3]], 1)
            boxes = boxes_px / torch.tensor([W, H, W, H], dtype=torch.float32)
        img = img.resize((SIZE, SIZE), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).float() / 255  # (3, 300, 300)
        if self.augment and self.photometric:
            x = photometric_distort(x)
        x = (x - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
        return x, boxes, labels


class VocDataset(torch.utils.data.Dataset):
    def __init__(self, samples, transform):
        self.samples, self.transform = samples, transform

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        s = self.samples[i]
        with Image.open(s["image"]) as f:
            img = f.convert("RGB")
        return self.transform(img, s["boxes"], s["labels"])


def collate(batch):
    images, boxes, labels = zip(*batch)
    return torch.stack(images), list(boxes), list(labels)


# ---------------------------------------------------------------------------------------------
# Detection and VOC07 mAP


def nms(boxes, scores, max_overlap, max_keep, chunk=1024):
    """Greedy NMS as ssd/detect.ts: by score descending (ties: lower index first), suppress IoU > max_overlap, at most max_keep.

    The sorted boxes go in chunks: each chunk is first checked against the boxes kept so far, then
    against itself with one IoU matrix, walked in order (an untrained network sends all 8732
    priors of every class here; a box at a time that took 30 s per evaluation of 100 images)."""
    order = torch.sort(scores, descending=True, stable=True).indices
    boxes = boxes[order]
    keep = []
    kept_boxes = boxes[:0]
    for start in range(0, len(order), chunk):
        b = boxes[start:start + chunk]
        alive = torch.ones(len(b), dtype=torch.bool)
        if len(keep):
            alive &= ~(ssd_fixtures.find_jaccard_overlap(b, kept_boxes) > max_overlap).any(1)
        suppresses = (ssd_fixtures.find_jaccard_overlap(b, b) > max_overlap).numpy()
        alive = alive.numpy()
        for k in range(len(b)):
            if not alive[k]:
                continue
            keep.append(start + k)
            if len(keep) >= max_keep:
                return [order[i].item() for i in keep]
            alive[k + 1:] &= ~suppresses[k, k + 1:]
        kept_boxes = boxes[keep]
    return [order[i].item() for i in keep]


def detect(locs, scores, priors, min_score=0.01, max_overlap=0.45, top_k=200):
    """Per image: a list of (box xy fractions (4,), label, score), the top_k best, highest first."""
    probs = F.softmax(scores, dim=2)
    results = []
    for i in range(locs.size(0)):
        g = locs[i]
        cxcy = torch.cat([g[:, :2] * priors[:, 2:] / 10 + priors[:, :2], torch.exp(g[:, 2:] / 5) * priors[:, 2:]], 1)
        boxes = ssd_fixtures.cxcy_to_xy(cxcy)
        dets = []
        for c in range(1, probs.size(2)):
            candidates = (probs[i, :, c] > min_score).nonzero().flatten()
            if len(candidates) == 0:
                continue
            class_boxes, class_scores = boxes[candidates], probs[i, candidates, c]
            for k in nms(class_boxes, class_scores, max_overlap, top_k):
                dets.append((class_boxes[k], c, class_scores[k].item()))
        dets.sort(key=lambda d: -d[2])  # stable: ties keep class order
        results.append(dets[:top_k])
    return results


def voc07_map(detections, samples, n_classes, iou_threshold=0.5):
    """AP per class (11-point) and their mean over the classes with non-difficult objects (ssd/evaluate.ts)."""
    ap = [float("nan")] * n_classes
    for c in range(1, n_classes):
        gt = [(s["boxes"][s["labels"] == c].double(), s["difficult"][s["labels"] == c]) for s in samples]
        n_pos = sum(int((~d).sum()) for _, d in gt)
        if n_pos == 0:
            continue
        ranked = []
        for i, dets in enumerate(detections):
            mine = [d for d in dets if d[1] == c]
            if not mine:
                continue
            boxes = torch.stack([d[0] for d in mine]).double()
            overlaps = ssd_fixtures.find_jaccard_overlap(boxes, gt[i][0]) if len(gt[i][0]) else torch.zeros(len(mine), 0, dtype=torch.float64)
            ranked += [(d[2], i, overlaps[k]) for k, d in enumerate(mine)]
        ranked.sort(key=lambda r: -r[0])  # stable
        claimed = [torch.zeros(len(g[0]), dtype=torch.bool) for g in gt]
        tp = fp = 0
        recall, precision = [], []
        for _, i, overlaps in ranked:
            if len(overlaps) == 0:
                fp += 1
            else:
                best_overlap, best = overlaps.max(0)
                if not best_overlap.item() > iou_threshold:
                    fp += 1
                elif gt[i][1][best]:
                    continue  # a difficult object: ignored
                elif claimed[i][best]:
                    fp += 1
                else:
                    tp += 1
                    claimed[i][best] = True
            recall.append(tp / n_pos)
            precision.append(tp / (tp + fp))
        total = 0.0
        for step in range(11):
            t = step / 10
            total += max([p for r, p in zip(recall, precision) if r >= t], default=0.0)
        ap[c] = total / 11
    present = [a for a in ap[1:] if not math.isnan(a)]
    return (sum(present) / len(present) if present else float("nan")), ap


@torch.no_grad()
def evaluate(model, loader, samples, priors, n_classes):
    """VOC07 mAP of the model (in evaluation mode, restored after) on the loader's images, which are `samples` in order."""
    was_training = model.training
    model.eval()
    detections = []
    for images, _, _ in loader:
        locs, scores = model(images)
        detections += detect(locs, scores, priors)
    model.train(was_training)
    return voc07_map(detections, samples, n_classes)
