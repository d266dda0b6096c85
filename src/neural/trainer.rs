//! The epoch loop of a two-tower fit: shuffle the training pairs, cut them
//! into batches, reduce each batch to distinct users and items, run both
//! towers forward, the loss, both towers backward, one optimizer step.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::estimates::{weighted_gramian, SoGram, StreamingFrequency};
use super::loss::{self, Batch, MseContext};
use super::optim::State;
use super::params::{GramianEstimate, LogQ, Loss, TwoTowerParams};
use super::tower::{Cache, FeatureRows, Grads, Tower};
use crate::data::Interactions;
use crate::error::{Error, Result};
use crate::factors::Factors;
use crate::params::Params;
use crate::report::LossParts;

/// A tower's trainable state: weights, optimizer states, scratch.
pub(crate) struct TowerState {
    pub(crate) tower: Tower,
    emb_opt: State,
    layer_opt: Vec<(State, State)>,
    cache: Cache,
    grads: Grads,
}

impl TowerState {
    fn new(tower: Tower, p: &TwoTowerParams) -> Self {
        let emb_opt = State::new(p.optimizer(), p.learning_rate(), tower.emb.len());
        let layer_opt = tower
            .layers
            .iter()
            .map(|l| {
                (
                    State::new(p.optimizer(), p.learning_rate(), l.w.len()),
                    State::new(p.optimizer(), p.learning_rate(), l.b.len()),
                )
            })
            .collect();
        TowerState {
            tower,
            emb_opt,
            layer_opt,
            cache: Cache::default(),
            grads: Grads::default(),
        }
    }

    fn step(&mut self, feats: &FeatureRows, d_out: &[f32]) {
        self.tower
            .backward(feats, &self.cache, d_out, &mut self.grads);
        let k = self.tower.k;
        self.emb_opt
            .step_rows(&mut self.tower.emb, k, &self.grads.rows, &self.grads.emb);
        for ((layer, (ow, ob)), (dw, db)) in self
            .tower
            .layers
            .iter_mut()
            .zip(&mut self.layer_opt)
            .zip(&self.grads.layers)
        {
            ow.step_dense(&mut layer.w, dw);
            ob.step_dense(&mut layer.b, db);
        }
    }
}

/// The training pairs in one flat list (user-major order).
struct Pairs {
    user: Vec<u32>,
    item: Vec<u32>,
    value: Vec<f32>,
}

/// Reusable index maps from entity to batch slot.
struct Slots {
    user: Vec<u32>,
    item: Vec<u32>,
}

/// Everything a fit reads and keeps between steps.
pub(crate) struct Trainer<'a> {
    p: &'a TwoTowerParams,
    data: &'a Interactions,
    user_feats: &'a FeatureRows,
    item_feats: &'a FeatureRows,
    pub(crate) users: TowerState,
    pub(crate) items: TowerState,
    pairs: Pairs,
    slots: Slots,
    /// Training frequency of each item, `|S_i| / |S|`.
    item_freq: Vec<f32>,
    user_counts: Vec<f32>,
    item_counts: Vec<f32>,
    streaming: Option<StreamingFrequency>,
    grams: Option<(SoGram, SoGram)>,
    rng: ChaCha8Rng,
    step: u64,
    /// The mean loss per pair of the last epoch.
    last_loss: f64,
    /// The iALS parameters of the same objective (mse-gramian's loss).
    ials: Option<Params>,
    /// The training entities' current embeddings (users scaled by `1/τ`).
    x: Factors,
    y: Factors,
}

impl<'a> Trainer<'a> {
    pub(crate) fn new(
        p: &'a TwoTowerParams,
        data: &'a Interactions,
        user_feats: &'a FeatureRows,
        item_feats: &'a FeatureRows,
    ) -> Result<Self> {
        let (m, n) = (data.n_users(), data.n_items());
        if user_feats.len() < m || item_feats.len() < n {
            return Err(Error::Shape(format!(
                "feature rows cover {} users and {} items, the interactions {m} and {n}",
                user_feats.len(),
                item_feats.len()
            )));
        }
        if data.nnz() == 0 {
            return Err(Error::EmptyMatrix);
        }
        let k = p.factors();
        let std = p.effective_init_std();
        let user_tower = Tower::new(
            user_feats.n_features(),
            k,
            &p.hidden(),
            p.pooling(),
            p.normalize(),
            std,
            p.seed(),
        );
        let item_tower = Tower::new(
            item_feats.n_features(),
            k,
            &p.hidden(),
            p.pooling(),
            p.normalize(),
            std,
            p.seed() ^ 0x9E37_79B9_7F4A_7C15,
        );
        let mut pairs = Pairs {
            user: Vec::with_capacity(data.nnz()),
            item: Vec::with_capacity(data.nnz()),
            value: Vec::with_capacity(data.nnz()),
        };
        for (u, i, v) in data.triplets() {
            pairs.user.push(u);
            pairs.item.push(i);
            pairs.value.push(v);
        }
        let nnz = data.nnz() as f32;
        let user_counts: Vec<f32> = (0..m).map(|u| data.user_row(u).len() as f32).collect();
        let item_counts: Vec<f32> = (0..n).map(|i| data.item_row(i).len() as f32).collect();
        let item_freq = item_counts.iter().map(|&c| c / nnz).collect();
        let streaming = (p.logq() == LogQ::Streaming).then(|| {
            StreamingFrequency::new(
                p.logq_hash_size(),
                p.logq_rate(),
                n as f32 / p.batch_size() as f32,
            )
        });
        let mut t = Trainer {
            p,
            data,
            user_feats,
            item_feats,
            users: TowerState::new(user_tower, p),
            items: TowerState::new(item_tower, p),
            pairs,
            slots: Slots {
                user: vec![u32::MAX; m],
                item: vec![u32::MAX; n],
            },
            item_freq,
            user_counts,
            item_counts,
            streaming,
            grams: None,
            rng: ChaCha8Rng::seed_from_u64(p.seed() ^ 0xD1B5_4A32_D192_ED03),
            step: 0,
            last_loss: 0.0,
            ials: None,
            x: Factors::zeros(m, k),
            y: Factors::zeros(n, k),
        };
        if p.loss() == Loss::MseGramian {
            t.ials = Some(
                Params::builder()
                    .factors(k)
                    .regularization(p.regularization())
                    .unobserved_weight(p.unobserved_weight())
                    .confidence(p.confidence())
                    .alpha(p.alpha())
                    .epsilon(p.epsilon())
                    .check()?,
            );
        }
        t.refresh();
        if p.loss() == Loss::MseGramian {
            let (gu, gv) = t.exact_grams();
            t.grams = Some((
                SoGram::new(k, gu, p.gramian_rate()),
                SoGram::new(k, gv, p.gramian_rate()),
            ));
        }
        Ok(t)
    }

    /// Exact Gramians of the training users' and items' embeddings.
    fn exact_grams(&self) -> (Vec<f32>, Vec<f32>) {
        let k = self.p.factors();
        let (m, n) = (self.data.n_users(), self.data.n_items());
        let x = self.embed_users();
        let y = self.embed_items();
        (
            weighted_gramian(&x[..m * k], k, &vec![1.0; m]),
            weighted_gramian(&y[..n * k], k, &vec![1.0; n]),
        )
    }

    /// Recompute the training entities' embeddings (`x`, `y`; users scaled
    /// by `1/τ`, so that `x · y` is the logit).
    fn refresh(&mut self) {
        let k = self.p.factors();
        let (m, n) = (self.data.n_users(), self.data.n_items());
        let mut x = self.embed_users();
        x.truncate(m * k);
        let inv = 1.0 / self.p.temperature();
        if inv != 1.0 {
            x.iter_mut().for_each(|v| *v *= inv);
        }
        let mut y = self.embed_items();
        y.truncate(n * k);
        self.x = Factors::from_vec(m, k, x).expect("invariant: m x k embeddings");
        self.y = Factors::from_vec(n, k, y).expect("invariant: n x k embeddings");
    }

    /// Every user's embedding (training and cold), row-major.
    pub(crate) fn embed_users(&self) -> Vec<f32> {
        self.users.tower.embed_all(self.user_feats)
    }

    /// Every item's embedding (training and cold), row-major.
    pub(crate) fn embed_items(&self) -> Vec<f32> {
        self.items.tower.embed_all(self.item_feats)
    }

    /// The batch of the pairs `idx`, reduced to distinct users and items.
    fn batch(&mut self, idx: &[u32]) -> Batch {
        let p = self.p;
        let n = self.data.n_items();
        let mse = p.loss() == Loss::MseGramian;
        let pairs: Vec<(u32, u32)> = idx
            .iter()
            .map(|&r| (self.pairs.user[r as usize], self.pairs.item[r as usize]))
            .collect();
        let (mut weight, mut target) = (Vec::with_capacity(idx.len()), Vec::new());
        for &r in idx {
            let v = self.pairs.value[r as usize];
            if mse {
                let (c, t) = p.weighting().weight(v);
                weight.push(c);
                target.push(t);
            } else {
                weight.push(p.pair_weight(v));
            }
        }
        let negatives: Vec<u32> = if p.loss() == Loss::Mixed {
            (0..p.negatives())
                .map(|_| self.rng.random_range(0..n as u32))
                .collect()
        } else {
            Vec::new()
        };
        let spec = loss::BatchSpec {
            weight: &weight,
            target: &target,
            negatives: &negatives,
            mask_from: (!mse && p.mask_user_items()).then(|| self.data.by_user()),
        };
        // log Q of each column: the expected number of its copies among the
        // columns (B f_d in-batch, plus B′/n uniform), up to a constant.
        let uniform = p.negatives() as f32 / n as f32;
        let bsz = idx.len() as f32;
        let (freq, streaming) = (&self.item_freq, self.streaming.as_ref());
        let logq = |i: u32| match p.logq() {
            LogQ::None => 0.0,
            LogQ::Exact => (bsz * freq[i as usize] + uniform).ln(),
            LogQ::Streaming => {
                let q = streaming.expect("streaming state").probability(i);
                (q + uniform).ln()
            }
        };
        let b = Batch::build(
            &pairs,
            &spec,
            logq,
            &mut self.slots.user,
            &mut self.slots.item,
        );
        if let Some(s) = self.streaming.as_mut() {
            // The in-batch items are the first columns; negatives follow.
            s.observe(self.step + 1, &b.items[..b.n_in_batch]);
        }
        b
    }

    /// One optimizer step on the pairs `idx`; returns the batch loss.
    pub(crate) fn step(&mut self, idx: &[u32]) -> f64 {
        let b = self.batch(idx);
        let k = self.p.factors();
        self.users
            .tower
            .forward(self.user_feats, &b.users, &mut self.users.cache);
        self.items
            .tower
            .forward(self.item_feats, &b.items, &mut self.items.cache);
        let (x, y) = (&self.users.cache.out, &self.items.cache.out);
        let (loss, dx, dy) = match self.p.loss() {
            Loss::Softmax | Loss::Mixed => loss::softmax(&b, x, y, k, self.p.temperature()),
            Loss::MseGramian => {
                if self.p.gramian() == GramianEstimate::Exact {
                    let (gu, gv) = self.exact_grams();
                    let grams = self.grams.as_mut().expect("mse-gramian keeps Gramians");
                    grams.0.set(gu);
                    grams.1.set(gv);
                }
                let (gu, gv) = self.grams.as_ref().expect("mse-gramian keeps Gramians");
                let user_counts: Vec<f32> = b
                    .users
                    .iter()
                    .map(|&u| self.user_counts[u as usize])
                    .collect();
                let item_counts: Vec<f32> = b
                    .items
                    .iter()
                    .map(|&i| self.item_counts[i as usize])
                    .collect();
                let ctx = MseContext {
                    alpha0: self.p.unobserved_weight(),
                    lambda: self.p.regularization(),
                    item_gram: gv.get(),
                    user_gram: gu.get(),
                    user_counts: &user_counts,
                    item_counts: &item_counts,
                };
                loss::mse_gramian(&b, x, y, k, &ctx)
            }
        };
        if self.p.loss() == Loss::MseGramian && self.p.gramian() == GramianEstimate::Sogram {
            // Importance weights: a batch row draws item d with probability f_d.
            let bsz = b.len() as f32;
            let wu: Vec<f32> = b
                .users
                .iter()
                .enumerate()
                .map(|(s, &u)| {
                    let rows = (b.row_ptr[s + 1] - b.row_ptr[s]) as f32;
                    rows * self.pairs.user.len() as f32 / (bsz * self.user_counts[u as usize])
                })
                .collect();
            let wi: Vec<f32> = b
                .items
                .iter()
                .zip(&b.counts)
                .map(|(&i, &c)| c / (bsz * self.item_freq[i as usize]))
                .collect();
            let grams = self.grams.as_mut().expect("mse-gramian keeps Gramians");
            grams.0.update(x, &wu);
            grams.1.update(y, &wi);
        }
        self.users.step(self.user_feats, &dx);
        self.items.step(self.item_feats, &dy);
        self.step += 1;
        loss
    }

    /// One epoch over every training pair; returns the mean loss per pair.
    pub(crate) fn epoch(&mut self, epoch: usize) -> f64 {
        let nnz = self.pairs.user.len();
        let mut order: Vec<u32> = (0..nnz as u32).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(self.p.seed().wrapping_add(epoch as u64));
        order.shuffle(&mut rng);
        let mut total = 0.0;
        for idx in order.chunks(self.p.batch_size()) {
            total += self.step(idx) * idx.len() as f64;
        }
        total / nnz as f64
    }
}

impl crate::train::Trainer for Trainer<'_> {
    /// One epoch over every training pair.
    fn sweep(&mut self, iteration: usize) -> Result<()> {
        self.last_loss = self.epoch(iteration);
        Ok(())
    }

    /// mse-gramian: the iALS objective of the current embeddings, in its
    /// three parts. The softmax losses: the epoch's mean loss per pair, as
    /// `observed` (the other parts 0).
    fn loss(&mut self) -> LossParts {
        self.refresh();
        match &self.ials {
            Some(params) => crate::train::loss(params, self.data, &self.x, &self.y),
            None => LossParts {
                observed: self.last_loss,
                ..LossParts::default()
            },
        }
    }

    fn factors(&self) -> (&Factors, &Factors) {
        (&self.x, &self.y)
    }
}
