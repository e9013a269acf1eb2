//! temp
use candle_core::{Device, Tensor, DType};
use std::time::Instant;
fn t<F: FnMut()>(name: &str, mut f: F) { let n = 200; f(); let s = Instant::now(); for _ in 0..n { f(); } println!("{name}: {:.1} us", s.elapsed().as_secs_f64() * 1e6 / n as f64); }
fn main() {
    let d = Device::Cpu;
    let e = Tensor::randn(0f32, 1., (2964, 41), &d).unwrap();
    let w = Tensor::randn(0f32, 1., (64, 41), &d).unwrap();
    let w2 = Tensor::randn(0f32, 1., (64, 64), &d).unwrap();
    let h = Tensor::randn(0f32, 1., (216, 64), &d).unwrap();
    let m = Tensor::randn(0f32, 1., (2964, 64), &d).unwrap();
    let idx: Vec<u32> = (0..2964).map(|i| (i % 216) as u32).collect();
    let idx = Tensor::from_vec(idx, 2964, &d).unwrap();
    t("matmul e wT", || { let _ = e.matmul(&w.t().unwrap()).unwrap(); });
    t("matmul m w2T", || { let _ = m.matmul(&w2.t().unwrap()).unwrap(); });
    let w2t = w2.t().unwrap().contiguous().unwrap();
    t("matmul m w2T contiguous", || { let _ = m.matmul(&w2t).unwrap(); });
    t("silu", || { let _ = m.silu().unwrap(); });
    t("index_select", || { let _ = h.index_select(&idx, 0).unwrap(); });
    t("index_add", || { let _ = Tensor::zeros((216, 64), DType::F32, &d).unwrap().index_add(&idx, &m, 0).unwrap(); });
    t("add", || { let _ = (&m + &m).unwrap(); });
    let big = Tensor::randn(0f32, 1., (64, 169), &d).unwrap();
    let nar = big.narrow(1, 0, 41).unwrap();
    t("matmul e narrowT", || { let _ = e.matmul(&nar.t().unwrap()).unwrap(); });
    let b = Tensor::randn(0f32, 1., 64, &d).unwrap();
    t("broadcast_add", || { let _ = m.broadcast_add(&b).unwrap(); });
    t("relu", || { let _ = m.relu().unwrap(); });
    t("cat", || { let _ = Tensor::cat(&[&h, &h], 1).unwrap(); });
    t("h matmul", || { let _ = h.matmul(&w2.t().unwrap()).unwrap(); });
    t("from_slice", || { let v = vec![0f32; 2964*41]; let _ = Tensor::from_slice(&v, (2964, 41), &d).unwrap(); });
}
#[allow(dead_code)]
fn more() {}
