"""What an operator needs: the connection guard, budgets, notifications, doctor and status."""
