// Promotion
