"""The project model: a catalog replayed from migrations, and workload facts from code."""
