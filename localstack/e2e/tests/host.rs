//! The local host's own promises: it stops every function process it
//! started, whether it is interrupted or killed.

use std::time::Duration;

use shopsphere_e2e::{Shop, eventually};

/// PIDs of the function processes the host reports alive.
async fn children(shop: &mut Shop) -> Vec<i32> {
    let url = format!("{}/functions", shop.local_host().control);
    let functions: serde_json::Value = shop.http.get(url).send().await.unwrap().json().await.unwrap();
    let pids: Vec<i32> = functions
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["instances"].as_object().unwrap().iter())
        .filter(|(_, stats)| stats["alive"] == true)
        .map(|(pid, _)| pid.parse().unwrap())
        .collect();
    assert!(pids.len() >= 8, "one warm instance per function: {functions}");
    pids
}

/// Running: exists and is not a zombie waiting to be reaped.
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

async fn all_gone(pids: &[i32]) {
    eventually("every function process to end", Duration::from_secs(10), || async {
        pids.iter().all(|p| !running(*p)).then_some(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_host_leaves_no_function_process_running() {
    let mut shop = Shop::start(&[]).await;
    let pids = children(&mut shop).await;
    assert!(pids.iter().all(|p| running(*p)));

    shop.local_host().process.start_kill().unwrap(); // SIGKILL: no cleanup code of the host runs
    shop.local_host().process.wait().await.unwrap();
    all_gone(&pids).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupting_the_host_stops_its_function_processes_and_exits_cleanly() {
    let mut shop = Shop::start(&[]).await;
    let pids = children(&mut shop).await;

    let host = shop.local_host().process.id().unwrap() as i32;
    // SAFETY: signalling a child process we own.
    assert_eq!(unsafe { libc::kill(host, libc::SIGINT) }, 0);
    let status =
        tokio::time::timeout(Duration::from_secs(30), shop.local_host().process.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
    all_gone(&pids).await;
}
