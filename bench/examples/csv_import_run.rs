#[path = "../src/csv_import.rs"]
mod csv_import;
#[path = "../src/report.rs"]
mod report;
fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(csv_import::run_to(
        &sizes,
        std::path::Path::new("bench/reports/csv_import.json"),
    ))
}
