import { header, requireLogin } from "./api.js";

const RANK = { agent: 1, supervisor: 2, admin: 3 };

if (requireLogin()) {
  const user = await header("/");
  // Pages above the user's role stay listed but are marked as not available.
  for (const link of document.querySelectorAll("a[data-role]")) {
    if ((RANK[user.role] || 0) < RANK[link.dataset.role]) link.classList.add("locked");
  }
}
