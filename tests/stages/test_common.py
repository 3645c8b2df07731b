from wsss.config import DataConfig, TrainConfig, load_config
from wsss.stages.common import train_geometry


def test_stages_train_at_the_dataset_geometry_unless_they_set_their_own():
    data = DataConfig(crop_size=320, resize_long=(320, 640))
    assert train_geometry(data, TrainConfig()) == (320, (320, 640))
    assert train_geometry(data, TrainConfig(crop_size=256)) == (256, (320, 640))
    assert train_geometry(data, TrainConfig(resize_long=(200, 300))) == (320, (200, 300))


def test_one_data_override_moves_every_stage(repo_root):
    cfg = load_config(repo_root / "configs" / "psa_coco_voc_mini.yaml", ["data.crop_size=256"])
    geometries = {train_geometry(cfg.data, stage.train) for stage in (cfg.cls, cfg.aff, cfg.seg)}
    assert geometries == {(256, (320, 640))}
