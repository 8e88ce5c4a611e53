"""What the stages produce: the fast lane's pages, the AI lane's entities and records, FHIR."""
