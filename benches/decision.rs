//! In-process micro-benchmarks of the scope engine: one decision, its flatness in catalog
//! size, the effective grant and compiling a catalog. Run: `cargo bench --bench decision`.

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use scopegate::scope::{
    AdminStyle, CatalogSnapshot, CompiledCatalog, Operation, Requirement, Scope, ScopeName,
};

/// A small deterministic generator (xorshift64*), so every run benchmarks the same catalog.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough in `lo..=hi` for a benchmark fixture.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
}

fn name(raw: &str) -> ScopeName {
    ScopeName::parse(raw).expect("generated scope names are valid")
}

/// Scope `i`: pairs `res{k}:read` / `res{k}:write`, every write implying its read.
fn scope_name(i: usize) -> String {
    let kind = if i.is_multiple_of(2) { "read" } else { "write" };
    format!("res{}:{kind}", i / 2)
}

/// `scopes` scopes and `operations` operations of 1-3 alternatives of 1-3 scopes each.
fn snapshot(scopes: usize, operations: usize) -> CatalogSnapshot {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ scopes as u64);
    let scopes: Vec<Scope> = (0..scopes)
        .map(|i| Scope {
            id: i as i64,
            name: name(&scope_name(i)),
            description: String::new(),
            is_default: i == 0,
            is_system: false,
            is_reserved: false,
            implies: if i % 2 == 1 {
                vec![name(&scope_name(i - 1))]
            } else {
                Vec::new()
            },
            created_at_ms: 0,
            updated_at_ms: 0,
            etag: String::new(),
        })
        .collect();
    let operations = (0..operations)
        .map(|i| Operation {
            name: format!("op_{i}"),
            description: String::new(),
            alternatives: (0..rng.between(1, 3))
                .map(|_| {
                    (0..rng.between(1, 3))
                        .map(|_| scopes[rng.between(0, scopes.len() - 1)].name.clone())
                        .collect()
                })
                .collect(),
        })
        .collect();
    CatalogSnapshot {
        tenant: "bench".to_owned(),
        revision: 1,
        admin_style: AdminStyle::Colon,
        drop_unknown_scopes: false,
        scopes,
        clients: Vec::new(),
        operations,
    }
}

/// A token of about ten scopes: the first alternative of every 50th operation (so some
/// operations are allowed at every catalog size) plus a few others.
fn token_scopes(snapshot: &CatalogSnapshot) -> Vec<String> {
    let mut token: Vec<String> = snapshot
        .operations
        .iter()
        .step_by(50)
        .filter_map(|op| op.alternatives.first())
        .flatten()
        .map(|s| s.as_str().to_owned())
        .take(8)
        .collect();
    let mut rng = Rng(42);
    token.extend((0..3).map(|_| scope_name(rng.between(0, snapshot.scopes.len() - 1))));
    token
}

/// Operation requirements, half of them allowed by `token`, half denied, interleaved.
fn mixed_requirements(catalog: &CompiledCatalog, token: &[String]) -> Vec<Requirement> {
    let grant = catalog.effective_grant(token.iter().map(String::as_str), false);
    let ops = catalog.operations().map(|op| op.name());
    let all: Vec<Requirement> = ops
        .map(|n| Requirement::operation(n).expect("valid"))
        .collect();
    let (allowed, denied): (Vec<Requirement>, Vec<Requirement>) = all
        .into_iter()
        .partition(|r| catalog.decide(&grant, r).allowed);
    let mut mixed = Vec::new();
    for (a, d) in allowed.into_iter().cycle().zip(denied).take(256) {
        mixed.push(a);
        mixed.push(d);
    }
    mixed
}

fn decide(c: &mut Criterion) {
    let source = snapshot(1_000, 500);
    let token = token_scopes(&source);
    let catalog = CompiledCatalog::compile(source);
    let grant = catalog.effective_grant(token.iter().map(String::as_str), false);
    let mixed = mixed_requirements(&catalog, &token);
    let (allowed, denied): (Vec<&Requirement>, Vec<&Requirement>) = mixed
        .iter()
        .partition(|r| catalog.decide(&grant, r).allowed);
    let mut group = c.benchmark_group("decide_1000_scopes_500_ops");
    for (label, requirements) in [
        ("mixed", mixed.iter().collect()),
        ("allowed", allowed),
        ("denied", denied),
    ] {
        let mut i = 0usize;
        group.bench_function(label, |b| {
            b.iter(|| {
                i = (i + 1) % requirements.len();
                black_box(catalog.decide(black_box(&grant), requirements[i]).allowed)
            });
        });
    }
    let all_of = Requirement::all_of([name("res3:read"), name("res10:read"), name("res7:write")])
        .expect("valid");
    group.bench_function("all_of_3_scopes", |b| {
        b.iter(|| black_box(catalog.decide(black_box(&grant), &all_of).allowed));
    });
    let explained = &mixed[0];
    group.bench_function("explained", |b| {
        b.iter(|| black_box(catalog.decide_explained(black_box(&grant), explained).1));
    });
    group.bench_function("effective_grant_10_scopes", |b| {
        b.iter(|| black_box(catalog.effective_grant(token.iter().map(String::as_str), false)));
    });
    group.finish();
}

fn decide_by_catalog_size(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide_by_catalog_size");
    for scopes in [10, 100, 1_000, 10_000] {
        let source = snapshot(scopes, 500);
        let token = token_scopes(&source);
        let catalog = CompiledCatalog::compile(source);
        let grant = catalog.effective_grant(token.iter().map(String::as_str), false);
        let requirements = mixed_requirements(&catalog, &token);
        let mut i = 0usize;
        group.bench_with_input(BenchmarkId::from_parameter(scopes), &scopes, |b, _| {
            b.iter(|| {
                i = (i + 1) % requirements.len();
                black_box(catalog.decide(black_box(&grant), &requirements[i]).allowed)
            });
        });
    }
    group.finish();
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.sample_size(20);
    for scopes in [1_000, 10_000] {
        let source = snapshot(scopes, 500);
        group.bench_with_input(BenchmarkId::new("ops_500", scopes), &source, |b, s| {
            b.iter_batched(
                || s.clone(),
                CompiledCatalog::compile,
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, decide, decide_by_catalog_size, compile);
criterion_main!(benches);
