//! Optimizers: Adagrad and Adam on the embedding rows a batch touches
//! (sparse; Adam is "lazy" like PyTorch's SparseAdam) and on dense layer
//! weights. Same update rules and constants as PyTorch's defaults.

use super::params::Optimizer;

const ADAGRAD_EPS: f32 = 1e-10;
const ADAM_B1: f32 = 0.9;
const ADAM_B2: f32 = 0.999;
const ADAM_EPS: f32 = 1e-8;

/// The optimizer state of one weight array.
#[derive(Clone, Debug)]
pub struct State {
    kind: Optimizer,
    lr: f32,
    /// Adagrad: the sum of squared gradients; Adam: the first moment.
    a: Vec<f32>,
    /// Adam: the second moment.
    b: Vec<f32>,
    /// Adam: steps taken (one bias correction for the whole array, as SparseAdam).
    step: u64,
}

impl State {
    /// Zero state for an array of `len` weights.
    pub fn new(kind: Optimizer, lr: f32, len: usize) -> Self {
        State {
            kind,
            lr,
            a: vec![0.0; len],
            b: if kind == Optimizer::Adam {
                vec![0.0; len]
            } else {
                Vec::new()
            },
            step: 0,
        }
    }

    /// One step on the whole array (dense weights).
    pub fn step_dense(&mut self, w: &mut [f32], g: &[f32]) {
        self.step += 1;
        let (c1, c2) = self.bias();
        for (j, (wv, &gv)) in w.iter_mut().zip(g).enumerate() {
            self.update(j, wv, gv, c1, c2);
        }
    }

    /// One step on the rows `rows` of a `? x k` table, with their gradients
    /// `g` (`rows.len() x k`); other rows and their state do not move.
    pub fn step_rows(&mut self, w: &mut [f32], k: usize, rows: &[u32], g: &[f32]) {
        self.step += 1;
        let (c1, c2) = self.bias();
        for (s, &r) in rows.iter().enumerate() {
            let base = r as usize * k;
            for c in 0..k {
                self.update(base + c, &mut w[base + c], g[s * k + c], c1, c2);
            }
        }
    }

    fn bias(&self) -> (f32, f32) {
        let t = self.step as i32;
        (1.0 - ADAM_B1.powi(t), 1.0 - ADAM_B2.powi(t))
    }

    #[inline]
    fn update(&mut self, j: usize, w: &mut f32, g: f32, c1: f32, c2: f32) {
        match self.kind {
            Optimizer::Adagrad => {
                self.a[j] += g * g;
                *w -= self.lr * g / (self.a[j].sqrt() + ADAGRAD_EPS);
            }
            Optimizer::Adam => {
                self.a[j] = ADAM_B1 * self.a[j] + (1.0 - ADAM_B1) * g;
                self.b[j] = ADAM_B2 * self.b[j] + (1.0 - ADAM_B2) * g * g;
                let m = self.a[j] / c1;
                let v = self.b[j] / c2;
                *w -= self.lr * m / (v.sqrt() + ADAM_EPS);
            }
        }
    }
}
