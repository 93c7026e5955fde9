"""Known losses as candidate source: the archive's seeds (as DiscoPOP started from) and reference points.

Each is exactly what a model would have to write: one public function, torch only, a scalar result.
"""

from __future__ import annotations

CROSS_ENTROPY = '''import torch.nn.functional as F


def loss(logits, targets):
    """Cross-entropy: the standard baseline, which memorises noisy labels."""
    return F.cross_entropy(logits, targets)
'''

LABEL_SMOOTHING = '''import torch.nn.functional as F


def loss(logits, targets):
    """Cross-entropy against targets smoothed by 0.1 towards uniform."""
    return F.cross_entropy(logits, targets, label_smoothing=0.1)
'''

FOCAL = '''import torch
import torch.nn.functional as F


def loss(logits, targets):
    """Focal loss (gamma 2): down-weights examples the model already gets right."""
    logp = F.log_softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)
    return (-((1 - logp.exp()) ** 2) * logp).mean()
'''

MAE = '''import torch.nn.functional as F


def loss(logits, targets):
    """Mean absolute error between softmax and one-hot: bounded, hence robust to label noise."""
    p = F.softmax(logits, dim=-1)
    onehot = F.one_hot(targets, p.shape[-1]).to(p.dtype)
    return (p - onehot).abs().sum(dim=-1).mean()
'''

GCE = '''import torch.nn.functional as F


def loss(logits, targets):
    """Generalised cross-entropy (q 0.7): between cross-entropy (q -> 0) and MAE (q = 1)."""
    p = F.softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)
    return ((1 - p.clamp_min(1e-7) ** 0.7) / 0.7).mean()
'''

CLASSIFICATION_SEEDS = (CROSS_ENTROPY, LABEL_SMOOTHING, FOCAL)

DPO = '''import torch.nn.functional as F


def loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    """DPO: logistic loss on the difference of policy/reference log-ratios."""
    logits = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    return -F.logsigmoid(beta * logits).mean()
'''

IPO = '''def loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    """IPO: squared regression of the log-ratio margin onto 1 / (2 beta)."""
    logits = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    return ((logits - 1 / (2 * beta)) ** 2).mean()
'''

HINGE = '''import torch


def loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    """SLiC hinge: penalise margins below 1 / beta."""
    logits = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    return torch.relu(1 - beta * logits).mean()
'''

DISCOPOP = '''import torch
import torch.nn.functional as F


def loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    """DiscoPOP's log-ratio modulated loss: a sigmoid-gated blend of the logistic and exponential losses."""
    logits = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    logits = beta * logits
    gate = torch.sigmoid(logits / 0.05)
    logistic = -F.logsigmoid(logits)
    exponential = torch.exp(-logits)
    return (logistic * (1 - gate) + exponential * gate).mean()
'''

PREFERENCE_SEEDS = (DPO, IPO)
