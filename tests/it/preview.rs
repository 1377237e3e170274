//! `intake preview`: the mapping and the rejections of a list, without writing anything.

use crate::helpers::TestEnv;

#[tokio::test]
async fn preview_shows_the_mapping_and_the_rejections_without_writing() {
    let env = TestEnv::new().await;
    let path = env.csv(
        "list.csv",
        "Code,Title,Cost,Price\nX1,Widget,1.00,2.00\nX2,Gadget,1.50,по запросу\n",
    );
    let out = env
        .command()
        .args(["preview", "--parser", "csv", "--json", "--map", "price=D", "--source"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let preview: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let price = preview["tables"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["role"]["value"] == "price")
        .expect("a price column");
    assert_eq!(price["header"], "Price", "the manual mapping wins over detection");
    assert_eq!(price["source"], "override");
    assert_eq!(price["column"], "D");
    assert_eq!(preview["items"][0]["price"], "2.00");
    assert_eq!(preview["rejections"][0]["error_type"], "price_on_request");
    assert_eq!(preview["rejections"][0]["row"], 3);

    let text = env
        .command()
        .args(["preview", "--parser", "csv", "--source"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("header row 1") && text.contains("→ price"), "{text}");
    assert_eq!(
        env.db.count("SELECT count(*) FROM task_runs").await,
        0,
        "preview writes nothing"
    );
}
