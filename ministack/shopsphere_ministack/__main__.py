"""MiniStack with ShopSphere's fixes (see the package's docstring)."""
import shopsphere_ministack
from ministack import app

shopsphere_ministack.apply()
app.main()
