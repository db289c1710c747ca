//! Table engines side by side (issue 2's benchmark): one client, sequential calls, median of rounds.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use dingbridge::adapters::embedded::EmbeddedStore;
use dingbridge::ports::{BatchOp, Cond, Index, Item, Key, Query, SystemClock, Table, TxOp};
use serde_json::json;

/// One engine's medians, in operations (or items) per second.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    cond_put: f64,
    get: f64,
    query_100: f64,
    tx_of_10: f64,
    batch_items: f64,
}

/// Picks one figure of an engine's row.
type Pick = fn(&Figures) -> f64;

pub async fn run(ops: usize, rounds: usize, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let base = match dir {
        Some(d) => d,
        None => std::env::current_dir()?.join("target").join("bench-table"),
    };
    std::fs::create_dir_all(&base)?;
    let work = tempfile::tempdir_in(&base)?;

    let fsync = median(
        (0..rounds)
            .map(|_| fsync_rate(work.path(), ops))
            .collect::<anyhow::Result<_>>()?,
    );

    let store = EmbeddedStore::open(&work.path().join("store"))?;
    let embedded: Arc<dyn Table> = Arc::new(store.table(Arc::new(SystemClock)));
    let emb = measure(embedded, ops, rounds).await?;

    let aws = aws_table().await?;
    let moto = match aws {
        Some(t) => Some(measure(t, (ops / 4).max(50), rounds).await?),
        None => None,
    };

    println!(
        "ops per round: {ops} (DynamoDB-on-moto: {}), rounds: {rounds}, medians\n",
        (ops / 4).max(50)
    );
    println!("| operation | EmbeddedTable | DynamoTable on moto | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    let rows: [(&str, Pick); 5] = [
        ("conditional put (durable), ops/s", |f| f.cond_put),
        ("get, ops/s", |f| f.get),
        ("query of 100 items, queries/s", |f| f.query_100),
        ("transaction of 10 puts, items/s", |f| f.tx_of_10),
        ("batch write, items/s", |f| f.batch_items),
    ];
    for (name, pick) in rows {
        let e = pick(&emb);
        match moto {
            Some(m) => println!(
                "| {name} | {e:.0} | {:.0} | {:.1}x |",
                pick(&m),
                e / pick(&m)
            ),
            None => println!("| {name} | {e:.0} | not run | |"),
        }
    }
    println!(
        "\nthis disk's fsync rate (4 KiB write + fdatasync, like dd oflag=dsync): {fsync:.0}/s"
    );
    println!(
        "durable conditional put vs fsync rate: {:.2}x slower",
        fsync / emb.cond_put
    );
    Ok(())
}

#[cfg(feature = "aws")]
async fn aws_table() -> anyhow::Result<Option<Arc<dyn Table>>> {
    use anyhow::Context;
    use dingbridge::adapters::dynamodb::{DynamoTable, create_table, load_aws_config};
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        eprintln!("AWS_ENDPOINT_URL not set: DynamoDB-on-moto not measured");
        return Ok(None);
    }
    let config = load_aws_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let name = format!("bench-{}", std::process::id());
    create_table(&client, &name)
        .await
        .context("create the bench table")?;
    Ok(Some(Arc::new(DynamoTable::new(
        client,
        name,
        Arc::new(SystemClock),
    ))))
}

#[cfg(not(feature = "aws"))]
async fn aws_table() -> anyhow::Result<Option<Arc<dyn Table>>> {
    eprintln!("built without --features aws: DynamoDB-on-moto not measured");
    Ok(None)
}

fn fsync_rate(dir: &std::path::Path, n: usize) -> anyhow::Result<f64> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path)?;
    let block = [7u8; 4096];
    let start = Instant::now();
    for _ in 0..n {
        file.write_all(&block)?;
        file.sync_data()?;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    std::fs::remove_file(path)?;
    Ok(rate)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn item(pk: &str, sk: String) -> Item {
    Item::new(
        Key::new(pk, sk),
        1,
        json!({"name": "张三", "email": "zhangsan@example.com", "mobile": "13800000000"}),
    )
}

async fn measure(t: Arc<dyn Table>, ops: usize, rounds: usize) -> anyhow::Result<Figures> {
    let mut all = Vec::new();
    for round in 0..rounds {
        let mut f = Figures::default();
        let pk = format!("BENCH#{round}");

        let start = Instant::now();
        for i in 0..ops {
            t.put(item(&pk, format!("{i:08}")), Cond::Absent).await?;
        }
        f.cond_put = ops as f64 / start.elapsed().as_secs_f64();

        let start = Instant::now();
        for i in 0..ops {
            let got = t.get(&Key::new(pk.clone(), format!("{i:08}"))).await?;
            anyhow::ensure!(got.is_some(), "a written item is missing");
        }
        f.get = ops as f64 / start.elapsed().as_secs_f64();

        let qpk = format!("BENCHQ#{round}");
        t.batch_write(
            (0..100)
                .map(|i| BatchOp::Put(item(&qpk, format!("{i:04}"))))
                .collect(),
        )
        .await?;
        let queries = (ops / 10).max(10);
        let start = Instant::now();
        for _ in 0..queries {
            let page = t
                .query(&Query::partition(Index::Primary, qpk.clone()).limit(100))
                .await?;
            anyhow::ensure!(
                page.items.len() == 100,
                "query returned {} items",
                page.items.len()
            );
        }
        f.query_100 = queries as f64 / start.elapsed().as_secs_f64();

        let tpk = format!("BENCHT#{round}");
        let txs = (ops / 10).max(5);
        let start = Instant::now();
        for n in 0..txs {
            let tx = (0..10)
                .map(|i| TxOp::Put {
                    item: item(&tpk, format!("{n:06}-{i}")),
                    cond: Cond::Absent,
                })
                .collect();
            t.transact(tx).await?;
        }
        f.tx_of_10 = (txs * 10) as f64 / start.elapsed().as_secs_f64();

        let bpk = format!("BENCHB#{round}");
        let items = ops * 5;
        let start = Instant::now();
        for chunk in 0..(items / 500) {
            let batch = (0..500)
                .map(|i| BatchOp::Put(item(&bpk, format!("{chunk:05}-{i:03}"))))
                .collect();
            t.batch_write(batch).await?;
        }
        f.batch_items = (items / 500 * 500) as f64 / start.elapsed().as_secs_f64();
        all.push(f);
    }
    Ok(Figures {
        cond_put: median(all.iter().map(|f| f.cond_put).collect()),
        get: median(all.iter().map(|f| f.get).collect()),
        query_100: median(all.iter().map(|f| f.query_100).collect()),
        tx_of_10: median(all.iter().map(|f| f.tx_of_10).collect()),
        batch_items: median(all.iter().map(|f| f.batch_items).collect()),
    })
}
