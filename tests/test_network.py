"""The torch network matches the official checkpoint layout and the reference backbone."""

from __future__ import annotations

import pytest
import torch

from stream.core.errors import ModelError
from stream.model import build_midas_small
from stream.model.checkpoint import load_weights, network_from_file, random_network


def test_state_dict_matches_manifest_exactly(manifest: dict) -> None:
    state = build_midas_small().state_dict()
    got = [[name, list(t.shape), str(t.dtype).removeprefix("torch.")] for name, t in state.items()]
    assert len(got) == manifest["num_tensors"] == 482
    assert got == manifest["tensors"]
    params = sum(p.numel() for p in build_midas_small().parameters())
    assert params == manifest["num_parameters"]


def test_build_is_eval_mode_and_outputs_n_h_w() -> None:
    model = build_midas_small()
    assert not model.training
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 96, 160))
    assert out.shape == (2, 96, 160)
    assert (out >= 0).all()


def test_checkpoint_round_trips_strict(random_weights, tmp_path) -> None:
    loaded = network_from_file(random_weights)
    reference = random_network(1234)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_wrapped_checkpoint_loads(random_weights, tmp_path) -> None:
    state = torch.load(random_weights, weights_only=True)
    for key in ("model", "state_dict"):
        path = tmp_path / f"wrapped-{key}.pt"
        torch.save({key: state, "epoch": 3}, path)
        model = network_from_file(path)
        assert torch.equal(model.state_dict()["scratch.output_conv.4.bias"], state["scratch.output_conv.4.bias"])


def test_missing_tensor_is_named(random_weights, tmp_path) -> None:
    state = torch.load(random_weights, weights_only=True)
    del state["scratch.refinenet2.out_conv.weight"]
    path = tmp_path / "missing.pt"
    torch.save(state, path)
    with pytest.raises(ModelError, match=r"scratch\.refinenet2\.out_conv\.weight.*missing") as err:
        network_from_file(path)
    assert "\n" not in str(err.value) and "missing.pt" in str(err.value)


def test_misshapen_tensor_is_named(random_weights, tmp_path) -> None:
    state = torch.load(random_weights, weights_only=True)
    state["pretrained.layer2.0.1.conv_dw.weight"] = torch.zeros(288, 1, 3, 3)
    path = tmp_path / "misshapen.pt"
    torch.save(state, path)
    with pytest.raises(ModelError, match=r"pretrained\.layer2\.0\.1\.conv_dw\.weight.*\(288, 1, 3, 3\).*\(288, 1, 5, 5\)"):
        network_from_file(path)


def test_unexpected_tensor_is_named() -> None:
    model = build_midas_small()
    state = dict(model.state_dict())
    state["head.fc.weight"] = torch.zeros(3)
    with pytest.raises(ModelError, match=r"head\.fc\.weight"):
        load_weights(model, state, "extra.pt")


def test_random_weights_are_seeded_and_give_structured_depth() -> None:
    a, b = random_network(7), random_network(7)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    image = torch.zeros(1, 3, 128, 128)
    image[:, :, 32:96, 32:96] = 2.0
    with torch.no_grad():
        depth = a(image)
    assert (depth > 0).float().mean() > 0.9
    assert depth.std() > 0.05 * depth.mean()


@pytest.mark.parametrize("height,width", [(256, 256), (192, 256), (256, 192), (64, 320)])
def test_backbone_matches_reference_gen_efficientnet(height: int, width: int) -> None:
    """Bit-for-bit against gen-efficientnet's exportable tf_efficientnet_lite3 (TF-SAME pads)."""
    geffnet = pytest.importorskip("geffnet")
    torch.manual_seed(0)
    reference = geffnet.tf_efficientnet_lite3(pretrained=False, exportable=True).eval()
    stages = [
        torch.nn.Sequential(reference.conv_stem, reference.bn1, reference.act1, *reference.blocks[0:2]),
        torch.nn.Sequential(*reference.blocks[2:3]),
        torch.nn.Sequential(*reference.blocks[3:5]),
        torch.nn.Sequential(*reference.blocks[5:7]),
    ]
    generator = torch.Generator().manual_seed(1)
    for stage in stages:
        for module in stage.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
    ours = build_midas_small().pretrained
    ref_state = {f"layer{i + 1}.{k}": v for i, s in enumerate(stages) for k, v in s.state_dict().items()}
    ours.load_state_dict(ref_state, strict=True)
    x = torch.randn(1, 3, height, width, generator=generator)
    a = b = x
    with torch.no_grad():
        for i, stage in enumerate(stages):
            a = stage(a)
            b = getattr(ours, f"layer{i + 1}")(b)
            assert a.shape == b.shape
            assert torch.allclose(a, b, atol=1e-5, rtol=1e-5), f"layer{i + 1}"
