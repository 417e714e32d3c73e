"""Progress bars name the window and the stage (not "Epoch 0" / "Validation DataLoader 0")."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from aigenbench.training.progress import WindowProgressBar


class TinyWindowModule(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.window = 3
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).sum()

    def validation_step(self, batch, batch_idx):
        return None

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_bars_say_which_window_and_stage(capfd):
    data = DataLoader(TensorDataset(torch.zeros(4, 2)), batch_size=2)
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[WindowProgressBar()],
    )
    module = TinyWindowModule()
    trainer.fit(module, train_dataloaders=data)
    trainer.validate(module, dataloaders=data, verbose=False)
    drawn = capfd.readouterr().out  # Lightning draws its bars on stdout
    assert "window 3 · epoch 0" in drawn
    assert "window 3 · scoring" in drawn
    assert "Epoch 0" not in drawn and "DataLoader 0" not in drawn
