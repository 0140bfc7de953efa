"""Read and validate GITS exports and public catalogs, synthesise mine years, replay into Kafka."""
