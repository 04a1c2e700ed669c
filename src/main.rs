fn main() {
    match entra_cloud_operator::api::crds_yaml() {
        Ok(y) => print!("{y}"),
        Err(e) => eprintln!("{e}"),
    }
}
