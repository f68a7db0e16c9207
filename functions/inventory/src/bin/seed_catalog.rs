//! Seed the catalog and inventory tables for demos and tests:
//! `seed-catalog [catalog.json]` with CATALOG_TABLE and INVENTORY_TABLE set.

use anyhow::Context;
use serde::Deserialize;
use shopsphere_inventory::dynamodb::InventoryTable;
use shopsphere_orders::{CatalogTable, Product};
use shopsphere_runtime::env_var;

#[derive(Deserialize)]
struct SeedEntry {
    #[serde(flatten)]
    product: Product,
    stock: u32,
}

const DEFAULT_CATALOG: &str = include_str!("../../seed/catalog.json");

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let text = match std::env::args().nth(1) {
        Some(path) => std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?,
        None => DEFAULT_CATALOG.to_owned(),
    };
    let entries: Vec<SeedEntry> = serde_json::from_str(&text).context("parsing the catalog JSON")?;
    let config = shopsphere_runtime::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let catalog = CatalogTable::new(client.clone(), env_var("CATALOG_TABLE")?);
    let inventory = InventoryTable::new(client, env_var("INVENTORY_TABLE")?);
    for entry in &entries {
        catalog.put(&entry.product).await?;
        inventory.put_stock(&entry.product.sku, entry.stock).await?;
    }
    println!("seeded {} products and their stock", entries.len());
    Ok(())
}
